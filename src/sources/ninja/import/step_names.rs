//! Step names for imported edges: each edge's first output, with the characters a step
//! name may not hold replaced, made unique with a counter.

use crate::model::fasthash::FastSet;
use crate::sources::ninja::build_file::BuildFile;

/// The step name of each edge of `file` by position: for the `selected` edges, their
/// first output sanitized and made unique (`a.o`, `a.o-2`); empty for the others.
pub(super) fn step_names(file: &BuildFile, selected: &[usize]) -> Vec<String> {
    let mut used = FastSet::with_capacity_and_hasher(selected.len(), Default::default());
    let mut names = vec![String::new(); file.edges.len()];
    for &i in selected {
        let first = file.edges[i].outputs.first().map_or("step", String::as_str);
        let mut name = sanitize_name(first);
        if !used.insert(name.clone()) {
            let base = std::mem::take(&mut name);
            for n in 2.. {
                name = format!("{base}-{n}");
                if used.insert(name.clone()) {
                    break;
                }
            }
        }
        names[i] = name;
    }
    names
}

/// A step name from a path: characters reprobe does not allow become `_`.
pub fn sanitize_name(path: &str) -> String {
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b':');
    // ASCII paths (nearly all) are mapped byte by byte.
    if path.is_ascii() && !path.is_empty() {
        let mut bytes = path.as_bytes().to_vec();
        for byte in &mut bytes {
            if !allowed(*byte) {
                *byte = b'_';
            }
        }
        if let Ok(name) = String::from_utf8(bytes) {
            return name;
        }
    }
    let name: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "step".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_keep_only_allowed_characters() {
        assert_eq!(sanitize_name("obj/a b.o"), "obj_a_b.o");
        assert_eq!(sanitize_name("x/ü"), "x__");
        assert_eq!(sanitize_name(""), "step");
    }
}
