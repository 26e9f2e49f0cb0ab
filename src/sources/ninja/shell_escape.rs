//! Ninja's shell escaping of the paths it puts into `$in` and `$out` (and the importer
//! into the scripts it writes): a path of safe bytes as it is, anything else in single
//! quotes.

/// The bytes [`push_shell_escaped`] leaves as they are, by value (a table: every byte of every
/// path of a large build goes through it).
const SHELL_SAFE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.' | b'/');
        byte += 1;
    }
    table
};

/// Appends Ninja's shell escaping of one path inside `$in` and `$out` to `out`.
pub fn push_shell_escaped(out: &mut String, path: &str) {
    if !path.is_empty() && path.bytes().all(|b| SHELL_SAFE[usize::from(b)]) {
        out.push_str(path);
        return;
    }
    out.push('\'');
    out.push_str(&path.replace('\'', "'\\''"));
    out.push('\'');
}
