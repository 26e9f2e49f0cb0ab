//! ELF objects, executables and libraries: which sections differ, each classified, with
//! the symbol that covers a difference as context.

use std::collections::BTreeMap;

use object::{Object, ObjectSection, ObjectSymbol};

use super::binary::{self, byte_ranges, classify};
use super::context::{Cx, Format};
use super::items::{ByteRange, Change, DiffItem, FieldDiff, ItemKind, Reason};
use crate::model::vocabulary::ReasonKind;

/// An ELF file (parsed with the `object` crate).
pub(crate) struct Elf;

impl Format for Elf {
    fn kind(&self) -> ItemKind {
        ItemKind::Elf
    }
    fn detect(&self, _name: &str, data: &[u8]) -> bool {
        data.starts_with(b"\x7fELF")
    }
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        vec![compare_elf(path, a, b, cx)]
    }
}

/// One section: its bytes, file offset, and symbols (offset in section, name).
struct Section<'d> {
    data: &'d [u8],
    offset: u64,
    symbols: Vec<(u64, u64, String)>,
}

type Sections<'d> = BTreeMap<String, Section<'d>>;

fn sections(data: &[u8]) -> Result<Sections<'_>, String> {
    let file = object::File::parse(data).map_err(|e| e.to_string())?;
    let mut out: Sections<'_> = BTreeMap::new();
    for s in file.sections() {
        let name = s.name().unwrap_or("?").to_string();
        let bytes = s.data().unwrap_or_default();
        let offset = s.file_range().map_or(0, |(o, _)| o);
        out.entry(name).or_insert(Section {
            data: bytes,
            offset,
            symbols: Vec::new(),
        });
    }
    for sym in file.symbols().chain(file.dynamic_symbols()) {
        let (Some(idx), Ok(name)) = (sym.section_index(), sym.name()) else {
            continue;
        };
        if name.is_empty() || sym.kind() == object::SymbolKind::Section {
            continue;
        }
        let name = match sym.kind() {
            object::SymbolKind::Text => format!("function {name}"),
            object::SymbolKind::Data => format!("object {name}"),
            _ => name.to_string(),
        };
        let Ok(section) = file.section_by_index(idx) else {
            continue;
        };
        let sname = section.name().unwrap_or("?");
        if let Some(entry) = out.get_mut(sname) {
            let start = sym.address().saturating_sub(section.address());
            if !entry.symbols.iter().any(|s| s.0 == start && s.2 == name) {
                entry.symbols.push((start, sym.size(), name));
            }
        }
    }
    Ok(out)
}

fn compare_elf(path: &str, a: &[u8], b: &[u8], cx: &Cx) -> DiffItem {
    let mut item = DiffItem::new(path.to_string(), ItemKind::Elf, Change::Modified);
    let (sa, sb) = match (sections(a), sections(b)) {
        (Ok(sa), Ok(sb)) => (sa, sb),
        (ra, rb) => {
            let mut item = binary::compare_item(path, a, b, cx);
            for (side, r) in [("a", ra.err()), ("b", rb.err())] {
                if let Some(err) = r {
                    item.evidence
                        .notes
                        .push(format!("side {side}: not a readable ELF file: {err}"));
                }
            }
            return item;
        }
    };
    let differing: Vec<&String> = sa
        .iter()
        .filter(|(name, s)| sb.get(*name).is_none_or(|t| t.data != s.data))
        .map(|(name, _)| name)
        .chain(sb.keys().filter(|n| !sa.contains_key(*n)))
        .collect();
    if let Some(note) = build_id_kept(&sa, &sb, &differing) {
        item.evidence.notes.push(note);
    }
    let mut per_section: Vec<(String, Vec<Reason>)> = Vec::new();
    for name in &differing {
        let (Some(x), Some(y)) = (sa.get(*name), sb.get(*name)) else {
            item.evidence
                .metadata
                .push(section_presence(name, sa.contains_key(*name)));
            continue;
        };
        item.evidence.metadata.push(FieldDiff {
            member: None,
            field: format!("section {name}"),
            a: format!("{} bytes at 0x{:x}", x.data.len(), x.offset),
            b: format!("{} bytes at 0x{:x}", y.data.len(), y.offset),
        });
        if name.as_str() == ".note.gnu.build-id" && differing.len() > 1 {
            item.evidence
                .notes
                .push("the build-id differs because other sections do".into());
            continue;
        }
        let mut reasons = classify(
            path,
            x.data,
            y.data,
            cx,
            (x.offset, y.offset),
            Some(format!("section {name}")),
            &mut item.evidence.notes,
        );
        add_symbols(&mut reasons, x, y);
        per_section.push((name.to_string(), reasons));
        if item.evidence.byte_ranges.len() < 8 {
            item.evidence.byte_ranges.extend(shifted(
                byte_ranges(x.data, y.data, Some(cx.budget)),
                x.offset,
                y.offset,
            ));
        }
    }
    drop_consequences(&mut per_section, &sa, &sb, &mut item);
    item.reasons = per_section.into_iter().flat_map(|(_, r)| r).collect();
    causes_first(&mut item.reasons);
    item.evidence.notes.dedup();
    item.reasons.truncate(cx.opts.max_findings_per_item);
    item
}

fn section_presence(name: &str, in_a: bool) -> FieldDiff {
    FieldDiff {
        member: None,
        field: format!("section {name}"),
        a: if in_a { "present" } else { "absent" }.into(),
        b: if in_a { "absent" } else { "present" }.into(),
    }
}

/// Build ids are hashes of the linked content: the same id on both sides of files that
/// differ elsewhere means one was changed after linking (strip, objcopy, a patch), and
/// the id no longer tells the two apart.
fn build_id_kept(sa: &Sections, sb: &Sections, differing: &[&String]) -> Option<String> {
    const ID: &str = ".note.gnu.build-id";
    let (x, y) = (sa.get(ID)?, sb.get(ID)?);
    (x.data == y.data && !x.data.is_empty() && !differing.is_empty()).then(|| {
        "the build-id is the same on both sides while other sections differ: the file was \
         changed after its build id was computed (strip, objcopy or a patch after linking), \
         so the id does not tell the two apart"
            .to_string()
    })
}

/// Puts the reasons a known value explains (build path, host, user, locale, zone,
/// clock) before the ones nothing explains, so that a cap on reasons never hides a cause
/// behind the bytes it shifted. The order within each group is kept.
fn causes_first(reasons: &mut [Reason]) {
    reasons.sort_by_key(|r| matches!(r.kind, ReasonKind::Random | ReasonKind::Ordering));
}

/// Names the symbol covering each reason's offset, in its context, as
/// `symbol function main+0x1c`.
fn add_symbols(reasons: &mut [Reason], section: &Section, other: &Section) {
    for r in reasons.iter_mut() {
        let Some(off) = r.offset.map(|o| o.saturating_sub(section.offset)) else {
            continue;
        };
        let off = first_difference(section, other, r, off);
        let sym = section
            .symbols
            .iter()
            .filter(|(start, size, _)| *start <= off && off < start + (*size).max(1))
            .min_by_key(|(_, size, _)| *size);
        if let (Some((start, _, name)), Some(ctx)) = (sym, r.context.as_mut()) {
            ctx.push_str(&format!(", symbol {name}+0x{:x}", off - start));
        }
    }
}

fn shifted(ranges: Vec<ByteRange>, oa: u64, ob: u64) -> Vec<ByteRange> {
    ranges
        .into_iter()
        .take(4)
        .map(|mut r| {
            r.offset_a += oa;
            r.offset_b += ob;
            r
        })
        .collect()
}

/// When a string section changed length, debug and relocation sections that only differ
/// in unexplained bytes (or in integers that happen to read as times) differ because
/// offsets into it moved: say so instead of calling them random.
fn drop_consequences(
    per_section: &mut Vec<(String, Vec<Reason>)>,
    sa: &Sections,
    sb: &Sections,
    item: &mut DiffItem,
) {
    let strings_moved = per_section.iter().any(|(name, reasons)| {
        let grew = sa.get(name).map(|s| s.data.len()) != sb.get(name).map(|s| s.data.len());
        let by_string =
            is_string_section(name) && reasons.iter().any(|r| r.kind != ReasonKind::Random);
        // A known value of another length in any section (a path in `.rodata` from
        // `__FILE__`) moves what follows it, and the symbols and relocations that point there.
        let by_value = reasons.iter().any(|r| is_known_value(r.kind));
        grew && (by_string || by_value)
    });
    if !strings_moved {
        return;
    }
    let mut dropped = Vec::new();
    per_section.retain(|(name, reasons)| {
        let consequence = is_debug(name)
            && reasons.iter().all(|r| {
                matches!(
                    r.kind,
                    ReasonKind::Random | ReasonKind::Timestamp | ReasonKind::Ordering
                )
            });
        if consequence {
            dropped.push(name.clone());
        }
        !consequence
    });
    if !dropped.is_empty() {
        item.evidence.notes.push(format!(
            "{} differ only where offsets moved: a string or known value before them changed length",
            dropped.join(", ")
        ));
    }
}

/// The first differing byte at or after `off`, where a reason's value starts (a token
/// shown whole starts before the byte that differs): the symbol is the one holding
/// that byte. `off` itself when the sections are not aligned there.
fn first_difference(section: &Section, other: &Section, r: &Reason, off: u64) -> u64 {
    const NEAR: usize = 256;
    let off_b = r.offset_b.map(|o| o.saturating_sub(other.offset));
    let (Ok(start), Some(true)) = (usize::try_from(off), off_b.map(|o| o == off)) else {
        return off;
    };
    let (a, b) = (section.data, other.data);
    let end = a.len().min(b.len()).min(start.saturating_add(NEAR));
    (start..end)
        .find(|&i| a[i] != b[i])
        .map_or(off, |i| i as u64)
}

/// Kinds `check` or `--known` give the values of, whose length can differ.
fn is_known_value(kind: ReasonKind) -> bool {
    matches!(
        kind,
        ReasonKind::BuildPath | ReasonKind::Hostname | ReasonKind::User | ReasonKind::Locale
    )
}

fn is_string_section(name: &str) -> bool {
    name.ends_with("str") || name == ".comment" || name.ends_with("strtab")
}

fn is_debug(name: &str) -> bool {
    name.starts_with(".debug")
        || name.starts_with(".rela")
        || name.starts_with(".zdebug")
        || name == ".symtab"
        || name == ".dynsym"
}
