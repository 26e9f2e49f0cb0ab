//! Build paths guessed when no values are known (`reprobe diff A B`): two absolute paths
//! that differ only in a leading part, below a common, non-trivial suffix, are a prefix
//! swap; the pairs of leading parts most such paths vote for are then treated as known
//! build paths for the whole item, so that every place holding them is attributed.

use std::collections::HashMap;

use super::placeholders::KnownPair;
use super::tokens::{looks_like_path, SHOW};
use crate::diff::escape::escape_short;
use crate::model::vocabulary::ReasonKind;

/// Most path tokens remembered per side for inferring a build path prefix swap.
const MAX_PATHS: usize = 64;

/// Most build path pairs inferred for one item.
const MAX_INFERRED: usize = 4;

/// Path tokens seen in unexplained spans, from which build path pairs are inferred.
#[derive(Default)]
pub(super) struct PathsSeen {
    pub(super) a: Vec<Vec<u8>>,
    pub(super) b: Vec<Vec<u8>>,
}

/// Two leading parts of paths, and (support, common suffix).
type PrefixVotes = HashMap<(Vec<u8>, Vec<u8>), (usize, Vec<u8>)>;

impl PathsSeen {
    /// Remembers the path tokens of an unexplained span, for
    /// [`PathsSeen::inferred_build_paths`].
    pub(super) fn remember(&mut self, tok_a: &[u8], tok_b: &[u8]) {
        let PathsSeen { a, b } = self;
        for (tok, list) in [(tok_a, a), (tok_b, b)] {
            if looks_like_path(tok) && list.len() < MAX_PATHS && !list.iter().any(|p| p == tok) {
                list.push(tok.to_vec());
            }
        }
    }

    /// Build path pairs inferred from the path tokens of unexplained spans: every pair
    /// of a path of side a and one of side b that is a prefix swap votes for its two
    /// leading parts; the best supported, at most one per leading part, win.
    pub(super) fn inferred_build_paths(&self) -> Vec<KnownPair> {
        let seen = self;
        let mut votes = PrefixVotes::new();
        for ta in &seen.a {
            for tb in &seen.b {
                if let Some(swap) = prefix_swap(ta, tb) {
                    let entry = votes
                        .entry((swap.a.to_vec(), swap.b.to_vec()))
                        .or_insert((0, swap.suffix.to_vec()));
                    entry.0 += 1;
                }
            }
        }
        let mut ranked: Vec<_> = votes.into_iter().collect();
        ranked.sort_by(|x, y| (y.1 .0, y.0 .0.len(), &x.0).cmp(&(x.1 .0, x.0 .0.len(), &y.0)));
        let mut out: Vec<KnownPair> = Vec::new();
        for ((pa, pb), (_, suffix)) in ranked {
            if out.len() >= MAX_INFERRED || out.iter().any(|p| p.a == pa || p.b == pb) {
                continue;
            }
            let note = PrefixSwap {
                a: &pa,
                b: &pb,
                suffix: &suffix,
            }
            .note();
            out.push(KnownPair {
                kind: ReasonKind::BuildPath,
                a: pa,
                b: pb,
                path: true,
                note: Some(note),
            });
        }
        out
    }
}

/// Two absolute paths that differ only in a leading part: `a` and `b` are the leading
/// parts, `suffix` what follows them on both sides.
pub(super) struct PrefixSwap<'t> {
    pub(super) a: &'t [u8],
    pub(super) b: &'t [u8],
    pub(super) suffix: &'t [u8],
}

impl PrefixSwap<'_> {
    pub(super) fn note(&self) -> String {
        format!(
            "inferred: the paths differ only before {} (--known build_path=A,B attributes exactly)",
            escape_short(self.suffix, SHOW)
        )
    }
}

/// Whether two path tokens look like one path under two different roots: the same
/// non-trivial suffix starting at a `/` (`/src/hello.c`), and different, absolute
/// leading parts. `/etc/passwd` and `/etc/shadow` are not: nothing after their common
/// prefix is shared.
pub(super) fn prefix_swap<'t>(a: &'t [u8], b: &'t [u8]) -> Option<PrefixSwap<'t>> {
    if !looks_like_path(a) || !looks_like_path(b) || a == b {
        return None;
    }
    let common = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let tail = &a[a.len() - common..];
    let slash = tail.iter().position(|&c| c == b'/')?;
    let suffix = &tail[slash..];
    let (pa, pb) = (&a[..a.len() - suffix.len()], &b[..b.len() - suffix.len()]);
    let named = suffix.iter().filter(|c| c.is_ascii_alphanumeric()).count();
    let trivial = suffix.len() < 3 || named < 2;
    if trivial || pa.len() < 2 || pb.len() < 2 || !pa.starts_with(b"/") || !pb.starts_with(b"/") {
        return None;
    }
    Some(PrefixSwap {
        a: pa,
        b: pb,
        suffix,
    })
}
