//! The remedy each kind of finding carries, format by format: a user should be able to
//! fix the build from the report alone.

use std::io::Write;

use super::{diff_bytes, DiffOptions, DiffReport, Reason, ReasonKind};

const T: u64 = 1_700_000_000;

fn tar_of(members: &[(&str, u32, u64)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, mode, mtime) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(*mode);
        header.set_mtime(*mtime);
        header.set_cksum();
        builder
            .append_data(&mut header, name, &b"hi\n"[..])
            .unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip_of(mtime: u32) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new()
        .mtime(mtime)
        .write(Vec::new(), flate2::Compression::default());
    e.write_all(b"hello\n").unwrap();
    e.finish().unwrap()
}

fn ar_of(mtime: u64) -> Vec<u8> {
    let mut builder = ar::Builder::new(Vec::new());
    let mut header = ar::Header::new(b"hello.o".to_vec(), 3);
    header.set_mtime(mtime);
    header.set_mode(0o644);
    builder.append(&header, &b"hi\n"[..]).unwrap();
    builder.into_inner().unwrap()
}

fn zip_of(minute: u8) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let time = zip::DateTime::from_date_and_time(2026, 11, 26, 1, minute, 14).unwrap();
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(time);
    w.start_file("hello.txt", opts).unwrap();
    w.write_all(b"hi\n").unwrap();
    w.finish().unwrap().into_inner()
}

fn reasons(name: &str, a: &[u8], b: &[u8]) -> Vec<Reason> {
    let report: DiffReport = diff_bytes(name, a, b, &DiffOptions::default());
    report.items.into_iter().flat_map(|i| i.reasons).collect()
}

fn remedy_of(reasons: &[Reason], kind: ReasonKind) -> String {
    reasons
        .iter()
        .find(|r| r.kind == kind)
        .and_then(|r| r.remedy.clone())
        .unwrap_or_else(|| panic!("no {kind:?} reason with a remedy in {reasons:#?}"))
}

#[test]
fn tar_times_and_member_order_get_the_full_tar_remedy() {
    let full = "tar --sort=name --mtime=@$SOURCE_DATE_EPOCH --clamp-mtime --owner=0 --group=0 --numeric-owner";
    let r = reasons(
        "x.tar",
        &tar_of(&[("a", 0o644, T), ("b", 0o644, T)]),
        &tar_of(&[("a", 0o644, T + 9), ("b", 0o644, T + 9)]),
    );
    assert_eq!(remedy_of(&r, ReasonKind::ArchiveMetadata), full);
    let r = reasons(
        "x.tar",
        &tar_of(&[("a", 0o644, T), ("b", 0o644, T)]),
        &tar_of(&[("b", 0o644, T), ("a", 0o644, T)]),
    );
    assert_eq!(remedy_of(&r, ReasonKind::Ordering), full);
}

#[test]
fn modes_that_differ_as_a_umask_would_get_the_umask_remedy() {
    let r = reasons(
        "x.tar",
        &tar_of(&[("a", 0o644, T)]),
        &tar_of(&[("a", 0o664, T)]),
    );
    assert_eq!(
        remedy_of(&r, ReasonKind::Umask),
        "set file modes explicitly (install -m, chmod) instead of inheriting the umask"
    );
}

#[test]
fn gzip_header_time_gets_gzip_n() {
    let r = reasons("x.gz", &gzip_of(1), &gzip_of(2));
    assert_eq!(
        remedy_of(&r, ReasonKind::ArchiveMetadata),
        "gzip -n (no name, no mtime), or GZIP=-n for tools that call gzip"
    );
}

#[test]
fn ar_member_time_gets_ar_d() {
    let r = reasons("x.a", &ar_of(T), &ar_of(T + 1));
    assert_eq!(
        remedy_of(&r, ReasonKind::ArchiveMetadata),
        "ar D (deterministic mode: zero timestamps, uids and gids)"
    );
}

#[test]
fn zip_dos_time_gets_zip_x_and_clamped_times() {
    let r = reasons("x.zip", &zip_of(7), &zip_of(8));
    assert_eq!(
        remedy_of(&r, ReasonKind::ArchiveMetadata),
        "zip -X with sorted entries and mtimes clamped to SOURCE_DATE_EPOCH (or strip-nondeterminism)"
    );
}

#[test]
fn words_of_one_line_in_another_order_get_the_hash_seed_remedy() {
    let r = reasons(
        "set.txt",
        b"{'alpha', 'beta', 'gamma'}\n",
        b"{'gamma', 'alpha', 'beta'}\n",
    );
    assert_eq!(
        remedy_of(&r, ReasonKind::Ordering),
        "sort it, or set PYTHONHASHSEED (Python set/dict order of strings)"
    );
    // Whole lines in another order (a directory listing) are sorted, not seeded.
    let r = reasons("ls.txt", b"./a\n./b\n./c\n", b"./c\n./a\n./b\n");
    assert_eq!(
        remedy_of(&r, ReasonKind::Ordering),
        "sort: LC_ALL=C sort, tar --sort=name, sorted directory walks"
    );
}
