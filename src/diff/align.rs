//! Aligning two sequences of lines (or binary segments) in near-linear time.
//!
//! Myers' algorithm costs O(N·D): fine for files that differ a little, hours for a million
//! lines that all differ. Small inputs (and the small gaps found below) are still aligned
//! by Myers, so that their results are the usual ones. Larger ones are anchored first, as
//! patience diff does: the lines that occur exactly once on each side are matched, the
//! longest run of matches in the same order on both sides (a longest increasing
//! subsequence, O(k log k)) becomes the anchors, and each gap between anchors is aligned
//! the same way, a few levels deep. A gap still too large, or any gap once the deadline
//! has passed, is one replacement: a coarser answer, never a wrong one.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::time::Instant;

use similar::{capture_diff_slices_deadline, Algorithm, DiffOp};

/// Most tokens (both sides together) aligned by Myers directly.
pub(crate) const MYERS_MAX: usize = 8192;
/// Deepest recursion into the gaps between anchors.
const MAX_LEVELS: usize = 8;

/// The alignment of two sequences.
#[derive(Debug, Default)]
pub(crate) struct Aligned {
    /// The operations that turn side a into side b, in order.
    pub ops: Vec<DiffOp>,
    /// False when the deadline passed and some gap was replaced whole instead of aligned.
    pub complete: bool,
}

/// Aligns `a` with `b`, giving up on finer alignment at `deadline` (see the module doc).
pub(crate) fn diff<T: Hash + Ord>(a: &[T], b: &[T], deadline: Instant) -> Aligned {
    if a.len() + b.len() <= MYERS_MAX {
        let ops = capture_diff_slices_deadline(Algorithm::Myers, a, b, Some(deadline));
        return Aligned {
            ops,
            complete: Instant::now() < deadline,
        };
    }
    let mut run = Run {
        a,
        b,
        ha: a.iter().map(hash_of).collect(),
        hb: b.iter().map(hash_of).collect(),
        deadline,
        out: Aligned {
            ops: Vec::new(),
            complete: true,
        },
    };
    run.align(0..a.len(), 0..b.len(), 0);
    run.out
}

fn hash_of<T: Hash>(x: &T) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    x.hash(&mut h);
    h.finish()
}

/// One alignment: the two sides, their tokens' hashes, and the operations so far.
struct Run<'t, T> {
    a: &'t [T],
    b: &'t [T],
    ha: Vec<u64>,
    hb: Vec<u64>,
    deadline: Instant,
    out: Aligned,
}

impl<T: Hash + Ord> Run<'_, T> {
    fn same(&self, i: usize, j: usize) -> bool {
        self.ha[i] == self.hb[j] && self.a[i] == self.b[j]
    }

    fn align(&mut self, mut ra: Range<usize>, mut rb: Range<usize>, level: usize) {
        let mut prefix = 0;
        while prefix < ra.len().min(rb.len()) && self.same(ra.start + prefix, rb.start + prefix) {
            prefix += 1;
        }
        self.equal(ra.start, rb.start, prefix);
        ra.start += prefix;
        rb.start += prefix;
        let mut suffix = 0;
        while suffix < ra.len().min(rb.len()) && self.same(ra.end - suffix - 1, rb.end - suffix - 1)
        {
            suffix += 1;
        }
        let (tail_a, tail_b) = (ra.end - suffix, rb.end - suffix);
        ra.end = tail_a;
        rb.end = tail_b;
        self.middle(ra, rb, level);
        self.equal(tail_a, tail_b, suffix);
    }

    /// Aligns two ranges with no common first or last token.
    fn middle(&mut self, ra: Range<usize>, rb: Range<usize>, level: usize) {
        if ra.is_empty() || rb.is_empty() {
            self.replace(ra, rb);
            return;
        }
        if Instant::now() >= self.deadline {
            self.out.complete = false;
            self.replace(ra, rb);
            return;
        }
        if ra.len() + rb.len() <= MYERS_MAX {
            self.myers(ra, rb);
            return;
        }
        let anchors = if level < MAX_LEVELS {
            self.anchors(&ra, &rb)
        } else {
            Vec::new()
        };
        if anchors.is_empty() {
            self.replace(ra, rb);
            return;
        }
        let (mut i, mut j) = (ra.start, rb.start);
        for (x, y) in anchors {
            if x < i || y < j {
                continue; // covered by the run of equal tokens after the previous anchor
            }
            self.align(i..x, j..y, level + 1);
            let mut run = 0;
            while x + run < ra.end && y + run < rb.end && self.same(x + run, y + run) {
                run += 1;
            }
            self.equal(x, y, run);
            (i, j) = (x + run, y + run);
        }
        self.align(i..ra.end, j..rb.end, level + 1);
    }

    /// The tokens found exactly once in `ra` and once in `rb`, matched, and of those the
    /// longest chain in the same order on both sides.
    fn anchors(&self, ra: &Range<usize>, rb: &Range<usize>) -> Vec<(usize, usize)> {
        // hash -> (occurrences in a, last index in a, occurrences in b, last index in b)
        let mut seen: HashMap<u64, (u32, usize, u32, usize)> = HashMap::new();
        for i in ra.clone() {
            let e = seen.entry(self.ha[i]).or_insert((0, 0, 0, 0));
            e.0 = e.0.saturating_add(1);
            e.1 = i;
        }
        for j in rb.clone() {
            if let Some(e) = seen.get_mut(&self.hb[j]) {
                e.2 = e.2.saturating_add(1);
                e.3 = j;
            }
        }
        let pairs: Vec<(usize, usize)> = ra
            .clone()
            .filter_map(|i| {
                let &(na, _, nb, j) = seen.get(&self.ha[i])?;
                (na == 1 && nb == 1 && self.a[i] == self.b[j]).then_some((i, j))
            })
            .collect();
        longest_increasing(&pairs)
    }

    fn myers(&mut self, ra: Range<usize>, rb: Range<usize>) {
        let ops = capture_diff_slices_deadline(
            Algorithm::Myers,
            &self.a[ra.clone()],
            &self.b[rb.clone()],
            Some(self.deadline),
        );
        if Instant::now() >= self.deadline {
            self.out.complete = false;
        }
        for op in ops {
            let (oa, ob) = (op.old_range(), op.new_range());
            let (oa, ob) = (
                oa.start + ra.start..oa.end + ra.start,
                ob.start + rb.start..ob.end + rb.start,
            );
            match op {
                DiffOp::Equal { len, .. } => self.equal(oa.start, ob.start, len),
                _ => self.replace(oa, ob),
            }
        }
    }

    fn equal(&mut self, old_index: usize, new_index: usize, len: usize) {
        if len == 0 {
            return;
        }
        if let Some(DiffOp::Equal { len: last, .. }) = self.out.ops.last_mut() {
            *last += len;
            return;
        }
        self.out.ops.push(DiffOp::Equal {
            old_index,
            new_index,
            len,
        });
    }

    fn replace(&mut self, ra: Range<usize>, rb: Range<usize>) {
        let op = match (ra.is_empty(), rb.is_empty()) {
            (true, true) => return,
            (false, true) => DiffOp::Delete {
                old_index: ra.start,
                old_len: ra.len(),
                new_index: rb.start,
            },
            (true, false) => DiffOp::Insert {
                old_index: ra.start,
                new_index: rb.start,
                new_len: rb.len(),
            },
            (false, false) => DiffOp::Replace {
                old_index: ra.start,
                old_len: ra.len(),
                new_index: rb.start,
                new_len: rb.len(),
            },
        };
        self.out.ops.push(op);
    }
}

/// The longest subsequence of `pairs` (sorted by their first element) whose second
/// elements increase, in O(k log k).
fn longest_increasing(pairs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    // tails[k]: index in `pairs` of the smallest last element of a chain of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut before: Vec<Option<usize>> = vec![None; pairs.len()];
    for (n, &(_, y)) in pairs.iter().enumerate() {
        let k = tails.partition_point(|&t| pairs[t].1 < y);
        before[n] = k.checked_sub(1).map(|p| tails[p]);
        if k == tails.len() {
            tails.push(n);
        } else {
            tails[k] = n;
        }
    }
    let mut chain = Vec::with_capacity(tails.len());
    let mut at = tails.last().copied();
    while let Some(n) = at {
        chain.push(pairs[n]);
        at = before[n];
    }
    chain.reverse();
    chain
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    /// Applies the operations to `a`, taking inserted tokens from `b`: must give `b`.
    fn apply<T: Clone>(ops: &[DiffOp], a: &[T], b: &[T]) -> Vec<T> {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        for op in ops {
            let (oa, ob) = (op.old_range(), op.new_range());
            assert_eq!(
                (oa.start, ob.start),
                (i, j),
                "ops are not contiguous: {ops:?}"
            );
            match op {
                DiffOp::Equal { .. } => out.extend_from_slice(&a[oa.clone()]),
                _ => out.extend_from_slice(&b[ob.clone()]),
            }
            (i, j) = (oa.end, ob.end);
        }
        assert_eq!((i, j), (a.len(), b.len()));
        out
    }

    #[test]
    fn longest_increasing_chain() {
        let pairs = [(0, 5), (1, 1), (2, 2), (3, 9), (4, 3), (5, 4)];
        assert_eq!(longest_increasing(&pairs), [(1, 1), (2, 2), (4, 3), (5, 4)]);
        assert!(longest_increasing(&[]).is_empty());
    }

    #[test]
    fn large_inputs_are_anchored_and_the_ops_rebuild_side_b() {
        let a: Vec<u64> = (0..100_000).collect();
        let mut b = a.clone();
        for k in (0..b.len()).step_by(97) {
            b[k] = 1_000_000 + k as u64; // scattered changes
        }
        b.insert(50_000, 7); // a length change
        b.drain(70_000..70_010);
        let aligned = diff(&a, &b, later());
        assert!(aligned.complete);
        assert_eq!(apply(&aligned.ops, &a, &b), b);
        let changed: usize = aligned
            .ops
            .iter()
            .filter(|op| !matches!(op, DiffOp::Equal { .. }))
            .map(|op| op.old_range().len())
            .sum();
        assert!(changed < 1_200, "{changed} tokens replaced");
    }

    #[test]
    fn nothing_in_common_is_one_replacement() {
        let a: Vec<u32> = (0..50_000).collect();
        let b: Vec<u32> = (50_000..90_000).collect();
        let aligned = diff(&a, &b, later());
        assert_eq!(aligned.ops.len(), 1);
        assert_eq!(apply(&aligned.ops, &a, &b), b);
    }

    #[test]
    fn a_passed_deadline_gives_a_coarse_but_valid_alignment() {
        let a: Vec<u32> = (0..40_000).map(|i| i % 1000).collect();
        let b: Vec<u32> = (0..40_000).map(|i| (i * 7) % 1000).collect();
        let aligned = diff(&a, &b, Instant::now());
        assert!(!aligned.complete);
        assert_eq!(apply(&aligned.ops, &a, &b), b);
    }

    #[test]
    fn small_inputs_are_aligned_by_myers_as_before() {
        let a = ["a", "b", "c", "d"];
        let b = ["a", "c", "x", "d"];
        let ours = diff(&a, &b, later()).ops;
        let myers = similar::capture_diff_slices(Algorithm::Myers, &a, &b);
        assert_eq!(ours, myers);
    }
}
