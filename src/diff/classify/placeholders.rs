//! Known values replaced by placeholders: every differential occurrence of a value known
//! to differ (a build path, a host name, a user, a locale) is replaced on both sides by
//! one placeholder, so that what is left to align is what the known values do not
//! explain. Offsets found in the normalised content map back through an [`OffsetMap`].

use std::borrow::Cow;
use std::ops::Range;

use crate::diff::options::KnownValues;
use crate::model::vocabulary::ReasonKind;

/// Marks a placeholder for a known value in normalised content.
pub(super) const MARK: [u8; 2] = [0x01, 0x02];

/// One value pair known (or inferred) to differ, replaced by a placeholder.
#[derive(Debug, Clone)]
pub(super) struct KnownPair {
    pub(super) kind: ReasonKind,
    pub(super) a: Vec<u8>,
    pub(super) b: Vec<u8>,
    /// A path: an occurrence must end where a path component ends (`/tmp/a` is not
    /// found in `/tmp/abc`).
    pub(super) path: bool,
    /// Said of every reason of this pair (how an inferred pair was found).
    pub(super) note: Option<String>,
}

/// The pairs of [`KnownValues`] that are replaced by placeholders. Time zones are not:
/// they are matched span by span (see `zone_rules.rs`), with all their spellings.
pub(super) fn known_pairs(known: &KnownValues) -> Vec<KnownPair> {
    let fields = [
        (&known.build_path, ReasonKind::BuildPath),
        (&known.hostname, ReasonKind::Hostname),
        (&known.user, ReasonKind::User),
        (&known.locale, ReasonKind::Locale),
    ];
    fields
        .into_iter()
        .filter_map(|(value, kind)| {
            let (a, b) = value.as_ref()?;
            (a != b && a.len() >= 2 && b.len() >= 2).then(|| KnownPair {
                kind,
                a: a.as_bytes().to_vec(),
                b: b.as_bytes().to_vec(),
                path: kind == ReasonKind::BuildPath,
                note: None,
            })
        })
        .collect()
}

/// One known pair whose occurrences differ between the two contents: where its value
/// first stands on each side.
pub(super) struct Replaced<'p> {
    pub(super) pair: &'p KnownPair,
    pub(super) first_a: Option<usize>,
    pub(super) first_b: Option<usize>,
}

/// Two contents with their known values replaced, where the placeholders stand in each,
/// and the pairs replaced.
pub(super) struct Normalized<'d, 'p> {
    pub(super) a: Cow<'d, [u8]>,
    pub(super) b: Cow<'d, [u8]>,
    pub(super) maps: [OffsetMap; 2],
    pub(super) replaced: Vec<Replaced<'p>>,
}

/// Replaces differential occurrences of known values (a value found a different number
/// of times on the two sides) by placeholders shared by both sides, and remembers where
/// they were, so that offsets found in the normalised content are reported in the
/// original one.
pub(super) fn normalize<'d, 'p>(
    pairs: &'p [KnownPair],
    a: &'d [u8],
    b: &'d [u8],
) -> Normalized<'d, 'p> {
    let mut replaced = Vec::new();
    let (mut needles_a, mut needles_b) = (Vec::new(), Vec::new());
    for (i, pair) in pairs.iter().enumerate() {
        let n = |hay: &[u8], needle: &[u8]| count(hay, needle, pair.path);
        let differential = n(a, &pair.a) != n(b, &pair.a) || n(b, &pair.b) != n(a, &pair.b);
        let first_a = find(a, &pair.a, pair.path);
        let first_b = find(b, &pair.b, pair.path);
        if !differential || (first_a.is_none() && first_b.is_none()) {
            continue;
        }
        let holder = placeholder(i, pair.a.len());
        needles_a.push((pair.a.as_slice(), holder.clone(), pair.path));
        needles_b.push((pair.b.as_slice(), holder, pair.path));
        replaced.push(Replaced {
            pair,
            first_a,
            first_b,
        });
    }
    let (na, map_a) = replace_pairs(a, &needles_a);
    let (nb, map_b) = replace_pairs(b, &needles_b);
    Normalized {
        a: na,
        b: nb,
        maps: [map_a, map_b],
        replaced,
    }
}

/// Occurrences of `needle` in `hay`; for a path, only those that end where a path
/// component ends (at a `/` or a character that cannot be part of a name).
fn occurrences<'h>(
    hay: &'h [u8],
    needle: &'h [u8],
    path: bool,
) -> impl Iterator<Item = usize> + 'h {
    memchr::memmem::find_iter(hay, needle).filter(move |&pos| {
        let next = hay.get(pos + needle.len()).copied();
        !path
            || needle.ends_with(b"/")
            || !next.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    })
}

fn count(hay: &[u8], needle: &[u8], path: bool) -> usize {
    occurrences(hay, needle, path).count()
}

fn find(hay: &[u8], needle: &[u8], path: bool) -> Option<usize> {
    occurrences(hay, needle, path).next()
}

fn placeholder(index: usize, len: usize) -> Vec<u8> {
    let mut p = MARK.to_vec();
    p.push(0x10 + (index as u8 & 0x0f));
    p.resize(len.max(3), 0x02);
    p
}

/// Where placeholders stand in normalised content: (normalised start, placeholder
/// length, original start, value length), in order.
#[derive(Debug, Default)]
pub(super) struct OffsetMap(Vec<(usize, usize, usize, usize)>);

impl OffsetMap {
    /// Whether no placeholder was put in.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The offset in the original content of an offset in the normalised one (inside a
    /// placeholder: where its value starts).
    pub(super) fn original(&self, pos: usize) -> usize {
        let n = self.0.partition_point(|seg| seg.0 <= pos);
        let Some(&(norm, norm_len, orig, orig_len)) = n.checked_sub(1).and_then(|i| self.0.get(i))
        else {
            return pos;
        };
        if pos < norm + norm_len {
            orig
        } else {
            pos - (norm + norm_len) + orig + orig_len
        }
    }
}

/// Replaces every occurrence of each needle (value, placeholder, is a path) in one pass:
/// where occurrences overlap, the earliest wins, then the longest.
fn replace_pairs<'h>(
    hay: &'h [u8],
    needles: &[(&[u8], Vec<u8>, bool)],
) -> (Cow<'h, [u8]>, OffsetMap) {
    if needles.is_empty() {
        return (Cow::Borrowed(hay), OffsetMap::default());
    }
    let mut found: Vec<(usize, usize, usize)> = Vec::new();
    for (k, (needle, _, path)) in needles.iter().enumerate() {
        found.extend(occurrences(hay, needle, *path).map(|pos| (pos, needle.len(), k)));
    }
    found.sort_by_key(|&(pos, len, _)| (pos, std::cmp::Reverse(len)));
    let mut out = Vec::with_capacity(hay.len());
    let mut map = Vec::new();
    let mut last = 0;
    for (pos, len, k) in found {
        if pos < last {
            continue;
        }
        out.extend_from_slice(&hay[last..pos]);
        let holder = &needles[k].1;
        map.push((out.len(), holder.len(), pos, len));
        out.extend_from_slice(holder);
        last = pos + len;
    }
    out.extend_from_slice(&hay[last..]);
    (Cow::Owned(out), OffsetMap(map))
}

pub(super) fn touches_placeholder(line: &[u8], r: &Range<usize>) -> bool {
    let start = r.start.min(line.len());
    let hi = (r.end + 2).min(line.len());
    // A MARK inside (or just after) the span.
    if memchr::memmem::find(&line[start..hi.max(start)], &MARK).is_some() {
        return true;
    }
    // Inside a placeholder run: a MARK before the span with only fill bytes between.
    let lo = start.saturating_sub(256);
    let Some(p) = memchr::memmem::rfind(&line[lo..start], &MARK) else {
        return false;
    };
    let after_mark = lo + p + 3;
    after_mark >= start || line[after_mark..start].iter().all(|&c| c == 0x02)
}

pub(super) fn line_of(data: &[u8], offset: usize) -> u64 {
    memchr::memchr_iter(b'\n', &data[..offset.min(data.len())]).count() as u64 + 1
}
