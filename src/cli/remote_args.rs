//! `--remote`: the shared cache on a Remote Execution API server (docs/remote.md), a flag
//! of `build`, `check`, `explain` and `challenge`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::engine::challenge::Labelled;
use crate::engine::explain::history::{self, LoadedBuild};
use crate::engine::remote_cache::RemoteTier;
use crate::model::manifest::Manifest;
use crate::remote::{RemoteOptions, RemoteUrl};
use crate::store::Store;

/// The environment variable that names the remote cache when `--remote` does not.
pub const REMOTE_ENV: &str = "REPROBE_REMOTE";

/// The environment variable that bounds each call to the remote cache (a duration:
/// "20s", "2m"; default 20 s), as the timeout errors suggest raising it.
pub const REMOTE_TIMEOUT_ENV: &str = "REPROBE_REMOTE_TIMEOUT";

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
        let Some(url) = self.url()? else {
            return Ok(None);
        };
        let mut options = RemoteOptions::default();
        if let Some(text) = std::env::var(REMOTE_TIMEOUT_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            options.call_timeout = crate::model::graph::parse_duration(text.trim())
                .filter(|d| !d.is_zero())
                .with_context(|| {
                    format!("{REMOTE_TIMEOUT_ENV}=`{text}` is not a duration (write 20s, 2m)")
                })?;
        }
        Ok(Some(Arc::new(RemoteTier::connect(&url, options))))
    }
}

/// Prints the remote tier's warnings on stderr.
pub fn print_warnings(tier: Option<&RemoteTier>) {
    for warning in tier.map(RemoteTier::take_warnings).unwrap_or_default() {
        eprintln!("reprobe: warning: {warning}");
    }
}

/// The server `check --against-remote` compares with, connected; `None` without the
/// flag. Unlike `build`, an unreachable server is an error: the comparison was asked for.
pub fn against_remote(args: &RemoteArgs, wanted: bool) -> anyhow::Result<Option<Arc<RemoteTier>>> {
    if !wanted {
        return Ok(None);
    }
    let tier = args.connect()?.with_context(|| {
        format!("--against-remote needs a server: pass --remote grpc://HOST:PORT[/INSTANCE] or set {REMOTE_ENV}")
    })?;
    if !tier.is_on() {
        anyhow::bail!(
            "--against-remote: {}",
            tier.connect_error()
                .unwrap_or("the remote cache cannot be used")
        );
    }
    Ok(Some(tier))
}

/// `explain --remote [BUILD]`: the latest build another machine published for the graph
/// (OLD) and this machine's BUILD, or its latest build of the graph (NEW).
pub fn remote_pair(
    args: &RemoteArgs,
    build: Option<&str>,
    store: Option<&Store>,
    graph_file: &Path,
) -> anyhow::Result<(LoadedBuild, LoadedBuild)> {
    let new = match build {
        Some(build) => history::resolve(build, store)?,
        None => {
            let store = store.with_context(|| {
                format!(
                    "no store beside {} (.reprobe/ with recorded builds): run `reprobe build` there, or pass --store DIR",
                    graph_file.display()
                )
            })?;
            let graph = history::GraphKey::of_file(graph_file);
            history::latest_builds(store, &graph, 1, None)?.remove(0)
        }
    };
    let (old, label) = latest_published(args, &new.manifest, graph_file)?;
    Ok((
        LoadedBuild {
            manifest: old,
            path: PathBuf::from(label),
        },
        new,
    ))
}

/// `challenge MINE --remote`: the latest build another machine published for MINE's graph.
pub fn remote_labelled(
    args: &RemoteArgs,
    mine: &Manifest,
    graph_file: &Path,
) -> anyhow::Result<Labelled> {
    let (manifest, label) = latest_published(args, mine, graph_file)?;
    Ok(Labelled { label, manifest })
}

/// The latest build of `mine`'s graph published by another build than `mine`, and a label
/// naming the server.
fn latest_published(
    args: &RemoteArgs,
    mine: &Manifest,
    graph_file: &Path,
) -> anyhow::Result<(Manifest, String)> {
    let tier = args
        .connect()?
        .with_context(|| format!("--remote without a URL needs {REMOTE_ENV} to name the server"))?;
    let found = tier
        .latest_manifest(mine)
        .with_context(|| format!("cannot read the latest build of the graph from {}", tier.url()))?
        .with_context(|| {
            format!(
                "the remote cache {} holds no build of {} from another machine: run `reprobe build --remote` there first (builds are published under their graph's step names)",
                tier.url(),
                graph_file.display()
            )
        })?;
    Ok((found, format!("{} (latest published build)", tier.url())))
}
