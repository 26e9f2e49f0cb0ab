//! Walking the store's directories for `store verify` and `store gc`: every blob, action
//! entry and manifest, by handle and never through a link, with what is not well named
//! or not the kind of file it should be set apart.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use super::action_cache::{ActionEntry, ACTION_SCHEMA};
use super::handles::{read_regular, remove_odd_entry};
use super::layout::Store;
use crate::fsafe::{Dir, Kind, Meta};
use crate::model::hash::{FileHash, InputHash};

/// One entry of a store directory: its handle's directory, name and metadata.
pub(super) struct Listed {
    pub(super) dir: Arc<Dir>,
    pub(super) name: OsString,
    pub(super) meta: Meta,
}

impl Listed {
    /// Its path, for messages.
    pub(super) fn path(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }
}

/// The entries of a directory, by handle (an unreadable directory lists nothing).
fn list(dir: &Arc<Dir>) -> Vec<Listed> {
    let mut out: Vec<Listed> = dir
        .names()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| {
            let meta = dir.meta_at(&name).ok().flatten()?;
            Some(Listed {
                dir: Arc::clone(dir),
                name,
                meta,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The entries two levels down (`blobs/ab/NAME`, `actions/ab/NAME`): the files in each
/// shard directory, and the top-level entries that are not shard directories (links
/// included: they are never entered).
pub(super) fn list_sharded(top: &Dir) -> (Vec<Listed>, Vec<Listed>) {
    let top = match top.try_clone() {
        Ok(dir) => Arc::new(dir),
        Err(_) => return (Vec::new(), Vec::new()),
    };
    let (mut inner, mut strays) = (Vec::new(), Vec::new());
    for entry in list(&top) {
        let is_shard = entry.meta.kind == Kind::Dir
            && entry.name.len() == 2
            && entry.name.to_str().is_some_and(|n| {
                n.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            });
        let shard = is_shard
            .then(|| top.open_dir_at(&entry.name).ok())
            .flatten();
        match shard {
            Some(shard) => inner.extend(list(&Arc::new(shard))),
            None => strays.push(entry),
        }
    }
    (inner, strays)
}

/// The hash a blob's name says, if it is well placed (`blobs/ab/ab…`).
pub(super) fn blob_name(entry: &Listed) -> Option<FileHash> {
    let name = entry.name.to_str()?;
    let shard = entry.dir.path().file_name()?.to_str()?;
    let hash: FileHash = name.parse().ok()?;
    (name.len() == 64 && name.get(..2) == Some(shard) && hash.0.to_hex() == name).then_some(hash)
}

/// The input hash an action entry's name says, if it is well placed.
pub(super) fn action_key(entry: &Listed) -> Option<InputHash> {
    let name = entry.name.to_str()?;
    let shard = entry.dir.path().file_name()?.to_str()?;
    let key: InputHash = name.strip_suffix(".json")?.parse().ok()?;
    (name.get(..2) == Some(shard)).then_some(key)
}

impl Store {
    /// Every well-named entry below `blobs/` (whatever its type), and everything else.
    pub(super) fn list_blobs(&self) -> (Vec<(FileHash, Listed)>, Vec<Listed>) {
        let (inner, mut strays) = list_sharded(&self.dirs.blobs);
        let mut blobs = Vec::new();
        for entry in inner {
            match blob_name(&entry) {
                Some(hash) => blobs.push((hash, entry)),
                _ => strays.push(entry),
            }
        }
        (blobs, strays)
    }

    /// Every entry below `actions/`, parsed and checked against its name. Anything that
    /// is not a regular file where an entry belongs is removed when `remove_odd`.
    pub(super) fn list_actions(
        &self,
        remove_odd: bool,
    ) -> Vec<(PathBuf, Result<ActionEntry, String>)> {
        let (inner, strays) = list_sharded(&self.dirs.actions);
        let mut out = Vec::new();
        for stray in strays {
            out.push((
                stray.path(),
                Err(format!(
                    "not an action entry ({}; entries are actions/ab/INPUTHASH.json); remove it",
                    stray.meta.kind.describe()
                )),
            ));
        }
        for entry in inner {
            let path = entry.path();
            let parsed = match action_key(&entry) {
                None => Err(format!(
                    "not an action entry ({}; entries are actions/ab/INPUTHASH.json); remove it",
                    entry.meta.kind.describe()
                )),
                Some(_) if entry.meta.kind != Kind::File => {
                    let what = entry.meta.kind.describe();
                    if remove_odd && remove_odd_entry(&entry.dir, &entry.name, &entry.meta).is_ok()
                    {
                        Err(format!(
                            "{what} where an action entry belongs; removed (a cache miss)"
                        ))
                    } else {
                        Err(format!("{what} where an action entry belongs; remove it"))
                    }
                }
                Some(key) => read_action(&entry, key),
            };
            out.push((path, parsed));
        }
        out
    }

    /// The entries of `builds/`, sorted by name (build ids sort by start time);
    /// directories excluded.
    pub(super) fn list_builds(&self) -> Vec<Listed> {
        let Ok(builds) = self.dirs.builds.try_clone() else {
            return Vec::new();
        };
        list(&Arc::new(builds))
            .into_iter()
            .filter(|e| e.meta.kind != Kind::Dir)
            .collect()
    }
}

/// Reads one action entry (a regular file) and checks it against its name.
pub(super) fn read_action(entry: &Listed, key: InputHash) -> Result<ActionEntry, String> {
    let text = match read_regular(&entry.dir, &entry.name, &entry.path()) {
        Ok(Some(text)) => text,
        Ok(None) => return Err("gone while read".into()),
        Err(err) => return Err(format!("unreadable: {err}")),
    };
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| format!("not JSON: {e}"))?;
    let schema = value
        .get("schema")
        .and_then(|s| s.as_str())
        .unwrap_or("(none)");
    if schema != ACTION_SCHEMA {
        return Err(format!(
            "action entry schema `{schema}` is not supported; this reprobe reads `{ACTION_SCHEMA}`"
        ));
    }
    let action: ActionEntry =
        serde_json::from_value(value).map_err(|e| format!("not an action entry: {e}"))?;
    if action.input_hash != key {
        return Err(format!(
            "filed under {key} but its input hash is {}",
            action.input_hash
        ));
    }
    Ok(action)
}
