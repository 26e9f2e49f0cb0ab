//! Reading the files a user names (a graph, a build file, an include, a depfile) only
//! when they are regular files: a FIFO would make the read wait forever for a writer, and
//! a device such as `/dev/zero` never ends.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// What a file that is not a regular file is, for messages: "FIFO", "directory", ...
pub fn kind_name(kind: fs::FileType) -> &'static str {
    if kind.is_dir() {
        "directory"
    } else if kind.is_fifo() {
        "FIFO"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_symlink() {
        "symbolic link"
    } else if kind.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

/// The error for a path that is not a regular file.
fn not_regular(kind: fs::FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "is a {}, not a regular file (reprobe reads only regular files)",
            kind_name(kind)
        ),
    )
}

/// Opens a file a user named (a graph, a build file, an include, a depfile) only if it
/// is a regular file (following symlinks): reading a FIFO waits forever for a writer,
/// and a device such as `/dev/zero` never ends. It is looked at before it is opened
/// (no device is opened), opened with `O_NONBLOCK` (opening a FIFO put there meanwhile
/// does not wait) and checked again on the open descriptor, which is what is read.
pub fn open_regular(path: &Path) -> io::Result<fs::File> {
    let kind = fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(not_regular(kind));
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(not_regular(kind));
    }
    Ok(file)
}

/// Reads a whole file through [`open_regular`].
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        std::os::unix::fs::symlink(&file, dir.path().join("link")).unwrap();
        assert_eq!(read_regular(&dir.path().join("link")).unwrap(), b"x");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::os::unix::fs::symlink(&fifo, dir.path().join("to-fifo")).unwrap();
        for (path, kind) in [
            (fifo, "FIFO"),
            (dir.path().join("to-fifo"), "FIFO"),
            (PathBuf::from("/dev/zero"), "character device"),
            (dir.path().to_path_buf(), "directory"),
        ] {
            let err = read_regular(&path).unwrap_err().to_string();
            assert!(
                err.contains(&format!("is a {kind}, not a regular file")),
                "{err}"
            );
        }
    }
}
