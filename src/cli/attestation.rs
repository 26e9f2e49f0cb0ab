//! Signed verdicts on the command line (docs/attest.md): the `--attest FILE --key KEY`
//! flags of `check`, and `reprobe attestation keygen` and `reprobe attestation verify`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use super::CommonArgs;
use crate::attest::{self, keyid, SigningKey, SubjectStatus};
use crate::engine::attestation::check_statement;
use crate::engine::check::CheckReport;
use crate::model::error::Exit;
use crate::model::graph::Graph;
use crate::report::attestation::{
    invalid_json, keygen_json, keygen_text, verified_json, verified_text, written_line, LocalFile,
};

/// The flags `check` takes to sign its verdict.
#[derive(Debug, Clone, clap::Args)]
pub struct AttestArgs {
    /// Write the verdict, signed with --key, to FILE: an in-toto statement in a DSSE
    /// envelope (docs/attest.md). Written whether the check passes or fails.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub attest: Option<PathBuf>,
    /// The Ed25519 private key (PKCS#8 PEM) that signs --attest, as made by
    /// `reprobe attestation keygen` or `openssl genpkey -algorithm ed25519`.
    #[arg(long, value_name = "KEY", requires = "attest")]
    pub key: Option<PathBuf>,
}

/// A key read and a destination checked, before any build: what `check` needs to sign.
pub struct Signer {
    key: SigningKey,
    path: PathBuf,
}

impl AttestArgs {
    /// Reads the key and checks that the attestation can be written, so a missing key or
    /// directory fails at once, not after the builds. `None` without `--attest`.
    pub fn prepare(&self) -> anyhow::Result<Option<Signer>> {
        let (Some(path), Some(key)) = (&self.attest, &self.key) else {
            return Ok(None);
        };
        let key = attest::read_signing_key(key).map_err(said_once)?;
        ensure_writable(path)?;
        Ok(Some(Signer {
            key,
            path: path.clone(),
        }))
    }
}

impl Signer {
    /// Signs the verdict of `report` on `graph` and writes it; says so on stderr unless
    /// `quiet`.
    pub fn write(&self, report: &CheckReport, graph: &Graph, quiet: bool) -> anyhow::Result<()> {
        let statement = check_statement(report, graph);
        attest::sign_to_file(&statement, &self.key, &self.path).map_err(said_once)?;
        if !quiet {
            eprintln!(
                "{}",
                written_line(&self.path, &statement, &keyid(&self.key.verifying_key()))
            );
        }
        Ok(())
    }
}

/// An attest error as one message: its text already ends with what the system said, which
/// anyhow's chain would repeat.
fn said_once(err: attest::AttestError) -> anyhow::Error {
    anyhow::anyhow!(err.to_string())
}

/// Fails when `path` could not be written: its directory is missing or not writable.
fn ensure_writable(path: &Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!(
            "cannot write the attestation {}: the directory {} does not exist; create it or choose another path",
            path.display(),
            dir.display()
        );
    }
    tempfile::NamedTempFile::new_in(dir).with_context(|| {
        format!(
            "cannot write the attestation {}: the directory {} is not writable",
            path.display(),
            dir.display()
        )
    })?;
    Ok(())
}

/// Flags of `reprobe attestation`.
#[derive(Debug, clap::Args)]
pub struct AttestationArgs {
    #[command(subcommand)]
    pub command: AttestationCommand,
}

/// The attestation subcommands.
#[derive(Debug, Subcommand)]
pub enum AttestationCommand {
    /// Make an Ed25519 key pair: PREFIX.pem (private, mode 0600) and PREFIX.pub.pem.
    /// Never overwrites a file.
    Keygen(KeygenArgs),
    /// Check an attestation's signature and contents with the signer's public key: exit 0
    /// when valid, 1 when it must not be trusted (altered, another signer, not a reprobe
    /// verdict) or a --subject file differs, 2 when a file cannot be read.
    Verify(VerifyArgs),
}

/// Flags of `reprobe attestation keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Where to write the keys: PREFIX.pem and PREFIX.pub.pem (a final `.pem` is dropped
    /// from PREFIX).
    #[arg(long, value_name = "PREFIX")]
    pub out: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of `reprobe attestation verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The attestation written by `check --attest`.
    pub file: PathBuf,
    /// The signer's public key (PEM), as written by `reprobe attestation keygen`.
    #[arg(long, value_name = "PUB")]
    pub key: PathBuf,
    /// Also check that this local file is one the verdict is about: its sha256 must be
    /// that of the subject whose name ends its path (repeatable).
    #[arg(long = "subject", value_name = "PATH")]
    pub subjects: Vec<PathBuf>,
    /// Exit 1 when the signed verdict is `fail`, even though the signature is valid.
    #[arg(long)]
    pub require_pass: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `reprobe attestation ...`.
pub fn run(args: AttestationArgs) -> anyhow::Result<Exit> {
    match args.command {
        AttestationCommand::Keygen(args) => keygen(args),
        AttestationCommand::Verify(args) => verify(args),
    }
}

/// `PREFIX.pem` and `PREFIX.pub.pem`.
fn key_paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let stem: OsString = match prefix.to_str().and_then(|p| p.strip_suffix(".pem")) {
        Some(stem) if !stem.is_empty() => stem.into(),
        _ => prefix.as_os_str().to_owned(),
    };
    let with = |suffix: &str| {
        let mut name = stem.clone();
        name.push(suffix);
        PathBuf::from(name)
    };
    (with(".pem"), with(".pub.pem"))
}

fn keygen(args: KeygenArgs) -> anyhow::Result<Exit> {
    let (private, public) = key_paths(&args.out);
    let files = match attest::keygen(&private, &public) {
        Ok(files) => files,
        Err(err) => {
            eprintln!("reprobe: error: {err}");
            return Ok(Exit::BadInput);
        }
    };
    if args.common.json {
        print!("{}", keygen_json(&files));
    } else if !args.common.quiet {
        print!("{}", keygen_text(&files));
    }
    Ok(Exit::Ok)
}

fn verify(args: VerifyArgs) -> anyhow::Result<Exit> {
    let key = match attest::read_verifying_key(&args.key) {
        Ok(key) => key,
        Err(err) => {
            eprintln!("reprobe: error: {err}");
            return Ok(Exit::BadInput);
        }
    };
    let verified = match attest::verify(&args.file, &key) {
        Ok(verified) => verified,
        Err(err) => {
            if args.common.json {
                print!("{}", invalid_json(&args.file, &err.to_string()));
            }
            eprintln!("reprobe: error: {err}");
            return Ok(if err.is_untrusted() {
                Exit::Findings
            } else {
                Exit::BadInput
            });
        }
    };
    let local: Vec<LocalFile> = args
        .subjects
        .iter()
        .map(|path| LocalFile {
            path: path.clone(),
            check: verified.statement.check_file(path),
        })
        .collect();
    if args.common.json {
        print!("{}", verified_json(&args.file, &verified, &local));
    } else if !args.common.quiet {
        print!(
            "{}",
            verified_text(&args.file, &verified, &local, args.common.verbose)
        );
    }
    Ok(verify_exit(&local, verified.passed() || !args.require_pass))
}

/// 2 when a local file could not be read, 1 when one is not a subject or differs from
/// it, or when the verdict is `fail` and a pass was required (`accepted` false); else 0.
fn verify_exit(local: &[LocalFile], accepted: bool) -> Exit {
    let unreadable: Vec<&LocalFile> = local
        .iter()
        .filter(|l| {
            matches!(
                l.check.status,
                SubjectStatus::Missing | SubjectStatus::Unreadable { .. }
            )
        })
        .collect();
    for file in &unreadable {
        eprintln!(
            "reprobe: error: --subject {}: cannot read the file; check the path",
            file.path.display()
        );
    }
    if !unreadable.is_empty() {
        Exit::BadInput
    } else if !accepted
        || local
            .iter()
            .any(|l| l.check.status != SubjectStatus::Matches)
    {
        Exit::Findings
    } else {
        Exit::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_take_a_prefix_with_or_without_pem() {
        for prefix in ["keys/release", "keys/release.pem"] {
            assert_eq!(
                key_paths(Path::new(prefix)),
                (
                    PathBuf::from("keys/release.pem"),
                    PathBuf::from("keys/release.pub.pem")
                )
            );
        }
        assert_eq!(
            key_paths(Path::new(".pem")).0,
            PathBuf::from(".pem.pem"),
            "a bare `.pem` is a name, not a suffix"
        );
    }

    #[test]
    fn key_errors_name_the_file_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let args = AttestArgs {
            attest: Some(dir.path().join("v.json")),
            key: Some(missing.clone()),
        };
        let err = args.prepare().err().expect("a missing key is an error");
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
        let (private, _) = key_paths(&dir.path().join("k"));
        attest::keygen(&private, &dir.path().join("k.pub.pem")).unwrap();
        let args = AttestArgs {
            attest: Some(dir.path().join("no/such/dir/v.json")),
            key: Some(private),
        };
        let err = args
            .prepare()
            .err()
            .expect("a missing directory is an error");
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
