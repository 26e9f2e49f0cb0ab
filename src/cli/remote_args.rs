//! `--remote`: the shared cache on a Remote Execution API server (docs/remote.md), a flag
//! of `build`, `check`, `explain` and `challenge`.

use std::sync::Arc;

use anyhow::Context;

use crate::engine::remote_cache::RemoteTier;
use crate::remote::{RemoteOptions, RemoteUrl};

/// The environment variable that names the remote cache when `--remote` does not.
pub const REMOTE_ENV: &str = "REPROBE_REMOTE";

/// The remote cache flag.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// A shared cache on a Remote Execution API server: grpc://HOST:PORT[/INSTANCE]
    /// [default: $REPROBE_REMOTE]. Without a URL, $REPROBE_REMOTE's (for `explain`, the
    /// flag alone turns the remote comparison on). See docs/remote.md.
    #[arg(
        long,
        value_name = "URL",
        num_args = 0..=1,
        default_missing_value = "",
        global = true
    )]
    pub remote: Option<String>,
}

impl RemoteArgs {
    /// Whether `--remote` was given (with or without a URL).
    pub fn given(&self) -> bool {
        self.remote.is_some()
    }

    /// The server: `--remote URL`, else `REPROBE_REMOTE` (when set and not empty).
    pub fn url(&self) -> anyhow::Result<Option<RemoteUrl>> {
        let env = std::env::var(REMOTE_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
        let text = match self.remote.as_deref() {
            Some("") => Some(env.with_context(|| {
                format!("--remote without a URL needs {REMOTE_ENV} to name the server (grpc://HOST:PORT[/INSTANCE])")
            })?),
            Some(url) => Some(url.to_string()),
            None => env,
        };
        text.map(|t| t.trim().parse::<RemoteUrl>().map_err(anyhow::Error::from))
            .transpose()
    }

    /// Connects to the server named, if any. A server that cannot be reached is not an
    /// error: the tier is off and says so once (`build` goes on locally).
    pub fn connect(&self) -> anyhow::Result<Option<Arc<RemoteTier>>> {
        Ok(self
            .url()?
            .map(|url| Arc::new(RemoteTier::connect(&url, RemoteOptions::default()))))
    }
}

/// Prints the remote tier's warnings on stderr.
pub fn print_warnings(tier: Option<&RemoteTier>) {
    for warning in tier.map(RemoteTier::take_warnings).unwrap_or_default() {
        eprintln!("reprobe: warning: {warning}");
    }
}
