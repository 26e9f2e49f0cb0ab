//! Notes of blobs removed as corrupt (`removed/HASH`): a lookup says why the step runs
//! again, and `store verify` knows that the past builds naming such a blob are history,
//! not damage.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use super::handles::read_regular;
use super::layout::{Store, REMOVED_DIR};
use crate::fsafe::Kind;
use crate::model::hash::FileHash;

impl Store {
    /// Records that blob `hash` was removed as corrupt (`removed/HASH`), so that the
    /// past builds whose manifests name it are not reported as damaged.
    pub(super) fn note_removed(&self, hash: &FileHash, why: &str) {
        let Ok(dir) = self.dirs.root.ensure_dir_at(OsStr::new(REMOVED_DIR), 0o777) else {
            return;
        };
        let when = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let text = format!("{when} removed: {why}\n");
        let _ = self.write_renamed(&dir, OsStr::new(&hash.0.to_hex()), text.as_bytes(), false);
    }

    /// The blobs noted in `removed/`, and the names there that are not such notes.
    pub(super) fn removed_notes(&self) -> (Vec<FileHash>, Vec<OsString>) {
        let Ok(dir) = self.dirs.root.open_dir_at(OsStr::new(REMOVED_DIR)) else {
            return (Vec::new(), Vec::new());
        };
        let (mut notes, mut strays) = (Vec::new(), Vec::new());
        for name in dir.names().unwrap_or_default() {
            let hash = name.to_str().and_then(|n| {
                let hash: FileHash = n.parse().ok()?;
                (hash.0.to_hex() == n).then_some(hash)
            });
            let regular = dir
                .meta_at(&name)
                .ok()
                .flatten()
                .is_some_and(|m| m.kind == Kind::File);
            match hash {
                Some(hash) if regular => notes.push(hash),
                _ => strays.push(name),
            }
        }
        (notes, strays)
    }

    /// Why blob `hash` was removed, as its note in `removed/` says; `None` without a note.
    pub(super) fn removal_reason(&self, hash: &FileHash) -> Option<String> {
        let hex = hash.0.to_hex();
        let noted = self
            .dirs
            .root
            .open_dir_at(OsStr::new(REMOVED_DIR))
            .ok()
            .and_then(|dir| {
                read_regular(&dir, OsStr::new(&hex), Path::new(&hex))
                    .ok()
                    .flatten()
            })?;
        let text = String::from_utf8_lossy(&noted);
        let why = text
            .split_once(" removed: ")
            .map_or(text.trim(), |(_, w)| w.trim());
        Some(why.to_string())
    }
}
