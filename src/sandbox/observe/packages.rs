//! Which `/etc` files belong to an installed package: configuration of the toolchain,
//! like the package's binaries in `/usr` (OpenSSL's `openssl.cnf`, read by every Python
//! that imports `hashlib`). What no package owns (`/etc/hostname`, `/etc/machine-id`, a
//! local configuration) is host state, and a step that reads it is `undeclared`.
//!
//! The owner is looked up in dpkg's database (`/var/lib/dpkg/info/*.list`), read once per
//! process and only when a step opens an `/etc` file beyond the fixed allow-list. A host
//! without that database has no owned files: only the allow-list applies there.

use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;

/// Where dpkg lists the files of each installed package.
const DPKG_INFO: &str = "/var/lib/dpkg/info";

/// Whether an installed package ships `path` (an absolute path below `/etc`, a file or a
/// directory).
pub(super) fn owned_by_a_package(path: &Path) -> bool {
    static OWNED: OnceLock<HashSet<String>> = OnceLock::new();
    let owned = OWNED.get_or_init(|| read_owned(Path::new(DPKG_INFO), "/etc/"));
    path.to_str().is_some_and(|p| owned.contains(p))
}

/// The paths starting with `prefix` that the `*.list` files of `info` name.
fn read_owned(info: &Path, prefix: &str) -> HashSet<String> {
    let mut owned = HashSet::new();
    let Ok(entries) = std::fs::read_dir(info) else {
        return owned;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "list") {
            continue;
        }
        // Regular files only: never block on a FIFO planted there.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        owned.extend(
            text.lines()
                .filter(|line| line.starts_with(prefix))
                .map(|line| line.trim_end_matches('/').to_string()),
        );
    }
    owned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_files_name_what_packages_own() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("openssl.list"),
            "/.\n/etc\n/etc/ssl\n/etc/ssl/openssl.cnf\n/usr/bin/openssl\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("openssl.md5sums"), "/etc/other\n").unwrap();
        let owned = read_owned(dir.path(), "/etc/");
        assert!(owned.contains("/etc/ssl/openssl.cnf"));
        assert!(owned.contains("/etc/ssl"));
        assert!(!owned.contains("/etc/other"), "only .list files count");
        assert!(!owned.contains("/usr/bin/openssl"));
    }

    #[test]
    fn host_state_is_owned_by_no_package() {
        if !Path::new(DPKG_INFO).is_dir() {
            return;
        }
        assert!(!owned_by_a_package(Path::new("/etc/hostname")));
        assert!(!owned_by_a_package(Path::new("/etc/machine-id")));
        if Path::new("/etc/ssl/openssl.cnf").exists() {
            assert!(owned_by_a_package(Path::new("/etc/ssl/openssl.cnf")));
        }
    }
}
