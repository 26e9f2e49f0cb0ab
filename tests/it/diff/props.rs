//! Properties of the diff engine (proptest): a tree equals itself, swapping the sides
//! swaps the items, and reordering tar members gives only `ordering`.

use std::path::Path;

use proptest::prelude::*;
use reprobe::diff::{
    diff_bytes, diff_paths, Change, DiffOptions, DiffReport, KnownValues, ReasonKind,
};

fn write_tree(root: &Path, files: &[(String, Vec<u8>)]) {
    std::fs::create_dir_all(root).unwrap();
    for (name, data) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
}

/// File names of one or two levels, a few distinct.
fn tree() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = "[a-d]{1,2}(/[e-g]{1,2})?";
    let content = prop_oneof![
        "[a-z0-9 :\n/-]{0,80}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..200),
    ];
    proptest::collection::btree_map(name, content, 1..8).prop_map(|m| {
        // A name cannot be both a file and a directory.
        let names: Vec<String> = m.keys().cloned().collect();
        m.into_iter()
            .filter(|(n, _)| !names.iter().any(|o| o.starts_with(&format!("{n}/"))))
            .collect()
    })
}

type Summary = (String, String, Change, Vec<(ReasonKind, String, String)>);

/// An item summary seen from side a: path, kind, change, reasons with their two values.
fn summary(report: &DiffReport, swap: bool) -> Vec<Summary> {
    report
        .items
        .iter()
        .map(|i| {
            let mut kinds: Vec<(ReasonKind, String, String)> = i
                .reasons
                .iter()
                .map(|r| {
                    let (a, b) = if swap { (&r.b, &r.a) } else { (&r.a, &r.b) };
                    (r.kind, a.clone(), b.clone())
                })
                .collect();
            kinds.sort();
            let change = if swap { i.change.swapped() } else { i.change };
            (i.path.clone(), i.kind.as_str().to_string(), change, kinds)
        })
        .collect()
}

fn tar_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder
            .append_data(&mut header, name, data.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_tree_compared_with_itself_or_a_copy_is_identical(files in tree()) {
        let dir = tempfile::tempdir().unwrap();
        write_tree(&dir.path().join("a"), &files);
        write_tree(&dir.path().join("b"), &files);
        let opts = DiffOptions::default();
        let a = dir.path().join("a");
        prop_assert!(diff_paths(&a, &a, &opts).unwrap().items.is_empty());
        prop_assert!(diff_paths(&a, &dir.path().join("b"), &opts).unwrap().items.is_empty());
    }

    #[test]
    fn swapping_sides_swaps_the_items(fa in tree(), fb in tree()) {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        write_tree(&a, &fa);
        write_tree(&b, &fb);
        let opts = DiffOptions::default();
        let ab = diff_paths(&a, &b, &opts).unwrap();
        let ba = diff_paths(&b, &a, &opts).unwrap();
        prop_assert_eq!(summary(&ab, false), summary(&ba, true));
        prop_assert_eq!(ab.items.is_empty(), fa == fb);
    }

    #[test]
    fn reordering_tar_members_gives_only_ordering(
        members in proptest::collection::btree_map("[a-z]{1,8}", proptest::collection::vec(any::<u8>(), 0..300), 2..10),
        seed in any::<u64>(),
    ) {
        let ordered: Vec<(String, Vec<u8>)> = members.into_iter().collect();
        let mut shuffled = ordered.clone();
        // A deterministic shuffle from the seed (rotate, then reverse a prefix).
        let k = (seed as usize) % shuffled.len();
        shuffled.rotate_left(k);
        let r = 1 + (seed as usize / 7) % shuffled.len();
        shuffled[..r].reverse();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.tar"), tar_of(&ordered)).unwrap();
        std::fs::write(dir.path().join("b.tar"), tar_of(&shuffled)).unwrap();
        let report = diff_paths(&dir.path().join("a.tar"), &dir.path().join("b.tar"), &DiffOptions::default()).unwrap();
        let kinds: Vec<ReasonKind> = report.items.iter().flat_map(|i| i.reasons.iter().map(|r| r.kind)).collect();
        prop_assert_eq!(report.items.is_empty(), ordered == shuffled);
        prop_assert!(kinds.iter().all(|k| *k == ReasonKind::Ordering), "{:?}", report.items);
        prop_assert!(report.items.len() <= 1);
    }

    #[test]
    fn swapping_sides_swaps_zone_and_path_findings(
        la in proptest::collection::vec(line(), 1..6),
        lb in proptest::collection::vec(line(), 1..6),
        with_zones in any::<bool>(),
    ) {
        // Spellings of the two zones and paths that are (or are not) prefix swaps: the
        // spans the timezone and build path rules look at, on either side.
        let (a, b) = (la.concat(), lb.concat());
        let known = KnownValues {
            timezone: with_zones.then(|| ("Pacific/Kiritimati".to_string(), "UTC".to_string())),
            ..KnownValues::default()
        };
        let opts = DiffOptions { known, ..DiffOptions::default() };
        let mut swapped = opts.clone();
        swapped.known = opts.known.swapped();
        let ab = diff_bytes("f.txt", a.as_bytes(), b.as_bytes(), &opts);
        let ba = diff_bytes("f.txt", b.as_bytes(), a.as_bytes(), &swapped);
        prop_assert_eq!(summary(&ab, false), summary(&ba, true));
        let offsets = |r: &DiffReport, swap: bool| -> Vec<(Option<u64>, Option<u64>, Option<String>)> {
            r.items.iter().flat_map(|i| i.reasons.iter()).map(|r| {
                let (x, y) = if swap { (r.offset_b, r.offset) } else { (r.offset, r.offset_b) };
                (x, y, r.note.clone())
            }).collect()
        };
        let (mut oab, mut oba) = (offsets(&ab, false), offsets(&ba, true));
        oab.sort();
        oba.sort();
        prop_assert_eq!(oab, oba);
    }
}

/// A line of words, zone spellings and paths.
fn line() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("UTC".to_string()),
        Just("+14".to_string()),
        Just("+1400".to_string()),
        Just("+14:00".to_string()),
        Just("LINT".to_string()),
        Just("Pacific/Kiritimati".to_string()),
        "/(w|x)/(a|bbb)(/src/(hello|main)\\.c)?",
        "[a-z]{1,6}",
        "[0-9a-f]{8}",
    ];
    proptest::collection::vec(word, 1..5).prop_map(|w| format!("{}\n", w.join(" ")))
}
