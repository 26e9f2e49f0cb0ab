//! The classifier: names the reason of each difference (docs/design.md section 6).
//!
//! Formats find what differs; this module explains it. Content is explained in three
//! passes: known values (build paths, host names, users, locales given by `check` or
//! `--known`) are replaced by placeholders on both sides; lines that only moved are
//! `ordering`; each remaining differing span is `timezone` if it names one of the two
//! known zones (its name, an abbreviation or a UTC offset), a `timestamp` if it lies
//! inside a date on both sides, and otherwise `random`, whose evidence says whether the
//! spans look random (high entropy) or are an unexplained low-entropy change.
//!
//! Attribution is exact whenever known values are given (as `check` always gives them):
//! a path is `build_path` only where it is one of the two known build paths. With no
//! known values at all (`reprobe diff A B`), two absolute paths are `build_path` when
//! they look like a prefix swap: the same path below a common, non-trivial suffix
//! (`…/w/a/src/hello.c` and `…/w/bbbbbb/src/hello.c`). The two leading parts found so are
//! then treated as known build paths for the whole item, so that every place holding
//! them is attributed, whichever strings the line diff happened to pair.
//!
//! Each concern has its file: the classifier's state (`classifier.rs`), known values
//! replaced by placeholders (`placeholders.rs`), line alignment (`alignment.rs`, with
//! `lines.rs`), the span rules (`spans.rs`, with `tokens.rs`, `zone_rules.rs` and
//! `time_rules.rs`), build paths guessed without known values (`build_path.rs`), and the
//! remedies of each reason kind (`remedies.rs`).

use std::time::{Duration, Instant};

mod alignment;
mod build_path;
mod classifier;
pub(crate) mod lines;
mod placeholders;
mod remedies;
mod spans;
mod time_rules;
mod tokens;
mod zone_rules;

pub use self::classifier::Classifier;
pub use self::remedies::remedy;

use self::classifier::{dedupe, Run};
use self::placeholders::known_pairs;
use crate::diff::items::Reason;

impl Classifier<'_> {
    /// Explains why `a` and `b` differ. Returns at most `limit` reasons, deduplicated.
    ///
    /// The result does not depend on which side is called a: the work is done in one
    /// canonical orientation and mirrored back, so `classify(b, a)` gives the same
    /// reasons with the sides swapped.
    pub fn classify(&self, a: &[u8], b: &[u8]) -> Vec<Reason> {
        self.classify_noting(a, b, &mut Vec::new())
    }

    /// Like [`Classifier::classify`], and says in `notes` what a budget left unexplained.
    pub(crate) fn classify_noting(
        &self,
        a: &[u8],
        b: &[u8],
        notes: &mut Vec<String>,
    ) -> Vec<Reason> {
        let deadline = self.budget.map_or_else(
            || Instant::now() + Duration::from_secs(1 << 30),
            |b| b.item_deadline(),
        );
        if a <= b {
            return self.classify_oriented(a, b, deadline, notes);
        }
        let known = self.known.swapped();
        let swapped = Classifier {
            path: self.path,
            known: &known,
            text: self.text,
            base_offset: self.base_offset_b,
            base_offset_b: self.base_offset,
            context: self.context.clone(),
            limit: self.limit,
            budget: self.budget,
        };
        let mut reasons = swapped.classify_oriented(b, a, deadline, notes);
        for r in &mut reasons {
            r.mirror();
        }
        reasons
    }

    fn classify_oriented(
        &self,
        a: &[u8],
        b: &[u8],
        deadline: Instant,
        notes: &mut Vec<String>,
    ) -> Vec<Reason> {
        let heuristic = self.known.is_empty();
        let mut run = Run::new(self, known_pairs(self.known), heuristic, deadline);
        let mut reasons = run.classify(a, b);
        if heuristic {
            let inferred = run.paths.borrow().inferred_build_paths();
            if !inferred.is_empty() {
                // Again, with the build paths found treated as known: every place that
                // holds them is attributed, and only what they do not explain is left.
                run = Run::new(self, inferred, heuristic, deadline);
                reasons = run.classify(a, b);
            }
        }
        notes.extend(run.notes.take());
        dedupe(&mut reasons);
        reasons.truncate(self.limit);
        reasons
    }
}

#[cfg(test)]
mod tests {
    use super::build_path::prefix_swap;
    use super::lines::same_words_reordered;
    use super::*;
    use crate::diff::options::KnownValues;
    use crate::model::vocabulary::ReasonKind;

    fn run(a: &str, b: &str, known: &KnownValues) -> Vec<ReasonKind> {
        let c = Classifier {
            path: "f",
            known,
            text: true,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
            budget: None,
        };
        c.classify(a.as_bytes(), b.as_bytes())
            .into_iter()
            .map(|r| r.kind)
            .collect()
    }

    #[test]
    fn c_date_is_a_timestamp() {
        let k = KnownValues::default();
        let kinds = run(
            "built Nov 25 2026 10:00:01\n",
            "built Mar  3 2031 23:59:59\n",
            &k,
        );
        assert_eq!(kinds, [ReasonKind::Timestamp]);
    }

    #[test]
    fn reordered_lines_are_ordering() {
        let k = KnownValues::default();
        assert_eq!(run("a\nb\nc\n", "c\na\nb\n", &k), [ReasonKind::Ordering]);
    }

    #[test]
    fn known_build_path_of_other_length_is_build_path() {
        let k = KnownValues {
            build_path: Some(("/tmp/a".into(), "/tmp/bbbb".into())),
            ..KnownValues::default()
        };
        assert_eq!(
            run("x /tmp/a/src y\n", "x /tmp/bbbb/src y\n", &k),
            [ReasonKind::BuildPath]
        );
    }

    fn reasons(a: &str, b: &str, known: &KnownValues) -> Vec<Reason> {
        Classifier {
            path: "f",
            known,
            text: true,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
            budget: None,
        }
        .classify(a.as_bytes(), b.as_bytes())
    }

    #[test]
    fn unrelated_absolute_paths_are_not_build_paths() {
        let k = KnownValues::default();
        // A symlink to /etc/passwd against one to /etc/shadow: no common suffix.
        assert_eq!(run("/etc/passwd", "/etc/shadow", &k), [ReasonKind::Random]);
        assert_eq!(
            run("cwd=/home/x/a\n", "cwd=/srv/y/b\n", &k),
            [ReasonKind::Random]
        );
        // A common suffix of one letter is no evidence either.
        assert!(prefix_swap(b"/a/x/b", b"/c/y/b").is_none());
    }

    #[test]
    fn a_prefix_swap_without_known_values_is_build_path() {
        let k = KnownValues::default();
        let r = reasons(
            "src /work/w/a/src/hello.c\n",
            "src /work/w/bbbbbb/src/hello.c\n",
            &k,
        );
        assert_eq!(r.len(), 1, "{r:#?}");
        assert_eq!(r[0].kind, ReasonKind::BuildPath);
        assert_eq!(
            (r[0].a.as_str(), r[0].b.as_str()),
            ("/work/w/a", "/work/w/bbbbbb")
        );
        assert_eq!((r[0].offset, r[0].offset_b), (Some(4), Some(4)));
        assert!(
            r[0].note.as_deref().unwrap().contains("/src/hello.c"),
            "{r:#?}"
        );
    }

    #[test]
    fn inferred_build_paths_attribute_strings_the_line_diff_paired_wrongly() {
        // The line diff pairs `…/a/src/hello.c` with `…/bbbbbb` (no common suffix), but
        // the prefix swap seen across the two lines attributes every occurrence.
        let k = KnownValues::default();
        let r = reasons(
            "/p/w/a/src/hello.c\n/p/w/a\n",
            "/p/w/bbbbbb\n/p/w/bbbbbb/src/hello.c\n",
            &k,
        );
        let kinds: Vec<ReasonKind> = r.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [ReasonKind::BuildPath, ReasonKind::Ordering],
            "{r:#?}"
        );
        assert_eq!(
            (r[0].a.as_str(), r[0].b.as_str()),
            ("/p/w/a", "/p/w/bbbbbb")
        );
        assert_eq!((r[0].offset, r[0].offset_b), (Some(0), Some(0)));
    }

    #[test]
    fn with_known_values_only_the_known_build_paths_are_build_path() {
        let k = KnownValues {
            build_path: Some(("/tmp/a".into(), "/tmp/bbbb".into())),
            ..KnownValues::default()
        };
        let r = reasons(
            "x /tmp/a/src y /opt/one/lib/x.so\n",
            "x /tmp/bbbb/src y /opt/two/lib/x.so\n",
            &k,
        );
        let kinds: Vec<ReasonKind> = r.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [ReasonKind::BuildPath, ReasonKind::Random], "{r:#?}");
        assert_eq!((r[0].a.as_str(), r[0].b.as_str()), ("/tmp/a", "/tmp/bbbb"));
        assert_eq!((r[0].offset, r[0].offset_b), (Some(2), Some(2)));
        assert_eq!(r[0].variation.as_deref(), Some("build_path"));
        assert!(r[0].note.is_none());
        // A known path is not found inside a longer name.
        let r = reasons("/tmp/abc /tmp/a\n", "/tmp/abc /tmp/bbbb\n", &k);
        assert_eq!(r.len(), 1, "{r:#?}");
        assert_eq!(r[0].offset, Some(9));
    }

    #[test]
    fn offsets_after_a_known_value_of_another_length_are_in_the_original_content() {
        let k = KnownValues {
            build_path: Some(("/tmp/a".into(), "/tmp/bbbb".into())),
            timezone: Some(("UTC".into(), "Pacific/Kiritimati".into())),
            ..KnownValues::default()
        };
        let r = reasons(
            "x /tmp/a/src seed 8f3a9c zone UTC\n",
            "x /tmp/bbbb/src seed 1b2d7e zone +14\n",
            &k,
        );
        let found: Vec<(ReasonKind, Option<u64>, Option<u64>)> =
            r.iter().map(|r| (r.kind, r.offset, r.offset_b)).collect();
        assert_eq!(
            found,
            [
                (ReasonKind::BuildPath, Some(2), Some(2)),
                (ReasonKind::Random, Some(18), Some(21)),
                (ReasonKind::Timezone, Some(30), Some(33)),
            ],
            "{r:#?}"
        );
    }

    #[test]
    fn unexplained_spans_say_whether_they_look_random() {
        let k = KnownValues::default();
        let word = reasons("Heute ist Dienstag\n", "Heute ist Tuesday\n", &k);
        assert_eq!(word.len(), 1);
        assert_eq!(word[0].kind, ReasonKind::Random);
        assert_eq!(
            (word[0].a.as_str(), word[0].b.as_str()),
            ("Dienstag", "Tuesday")
        );
        assert_eq!(word[0].high_entropy, Some(false));
        assert_eq!(
            word[0].note.as_deref(),
            Some("unexplained by known values; not high-entropy")
        );
        let uuid = reasons(
            "id 3f2b8c1e-9d4a-4f6b-8e2c-1a7b9c0d5e3f\n",
            "id 0c6e2d71-5b1f-4a8e-9f3d-7e2a4b6c8d10\n",
            &k,
        );
        assert_eq!(uuid[0].high_entropy, Some(true), "{uuid:#?}");
        assert_eq!(
            uuid[0].note.as_deref(),
            Some("high-entropy (uuid): looks random")
        );
        let json = serde_json::to_value(&word[0]).unwrap();
        assert_eq!(json["high_entropy"], false);
        assert_eq!(
            json["note"],
            "unexplained by known values; not high-entropy"
        );
    }

    fn zones() -> KnownValues {
        KnownValues {
            timezone: Some(("Pacific/Kiritimati".into(), "UTC".into())),
            ..KnownValues::default()
        }
    }

    #[test]
    fn timezone_evidence_is_the_differing_bytes_with_both_offsets() {
        let k = zones();
        // "LINT" is no spelling of Pacific/Kiritimati in today's tz database, but it
        // stands where side b spells UTC.
        let r = reasons("zone LINT\n", "zone UTC\n", &k);
        assert_eq!(r.len(), 1, "{r:#?}");
        assert_eq!(r[0].kind, ReasonKind::Timezone);
        assert_eq!((r[0].a.as_str(), r[0].b.as_str()), ("LINT", "UTC"));
        assert_eq!((r[0].offset, r[0].offset_b), (Some(5), Some(5)));
        assert_eq!((r[0].line, r[0].line_b), (Some(1), Some(1)));
        assert_eq!(r[0].variation.as_deref(), Some("timezone"));
        let json = serde_json::to_value(&r[0]).unwrap();
        assert_eq!(
            (json["offset"].as_u64(), json["offset_b"].as_u64()),
            (Some(5), Some(5))
        );
    }

    #[test]
    fn zone_abbreviations_and_numeric_offsets_are_timezone() {
        if !std::path::Path::new("/usr/share/zoneinfo/Pacific/Kiritimati").exists() {
            eprintln!("skipped: no zoneinfo for Pacific/Kiritimati");
            return;
        }
        let k = zones();
        for (a, b, va, vb) in [
            ("zone +14\n", "zone UTC\n", "+14", "UTC"),
            ("offset +1400 ok\n", "offset +0000 ok\n", "+1400", "+0000"),
            ("tz=+14:00;\n", "tz=+00:00;\n", "+14:00", "+00:00"),
            (
                "in Pacific/Kiritimati\n",
                "in UTC\n",
                "Pacific/Kiritimati",
                "UTC",
            ),
        ] {
            let r = reasons(a, b, &k);
            assert_eq!(r.len(), 1, "{a}: {r:#?}");
            assert_eq!(r[0].kind, ReasonKind::Timezone, "{a}");
            assert_eq!((r[0].a.as_str(), r[0].b.as_str()), (va, vb), "{a}");
        }
        // `date` in two zones: the zone is `timezone`, and so is the hour, moved by
        // exactly the zones' offsets.
        let r = reasons(
            "Thu Nov 26 23:34:11 +14 2026\n",
            "Thu Nov 26 09:34:11 UTC 2026\n",
            &k,
        );
        let kinds: Vec<ReasonKind> = r.iter().map(|r| r.kind).collect();
        assert!(kinds.iter().all(|k| *k == ReasonKind::Timezone), "{r:#?}");
        let tz = r.iter().find(|r| r.a == "+14").unwrap();
        assert_eq!((tz.a.as_str(), tz.b.as_str()), ("+14", "UTC"));
        assert_eq!((tz.offset, tz.offset_b), (Some(20), Some(20)));
        // A number that merely contains the offset is not a zone.
        assert_eq!(
            run("build +145\n", "build UTCX\n", &k),
            [ReasonKind::Random]
        );
    }

    #[test]
    fn a_set_printed_in_hash_order_is_ordering() {
        let k = KnownValues::default();
        let a = "theta eta gamma zeta alpha epsilon delta beta\n";
        let b = "gamma epsilon zeta delta eta theta alpha beta\n";
        assert_eq!(run(a, b, &k), [ReasonKind::Ordering]);
        assert_eq!(
            reasons(a, b, &k)[0].remedy.as_deref(),
            Some("sort it, or set PYTHONHASHSEED (Python set/dict order of strings)")
        );
        assert_eq!(
            run(
                "{'alpha', 'beta', 'gamma'}",
                "{'gamma', 'alpha', 'beta'}",
                &k
            ),
            [ReasonKind::Ordering]
        );
        // Other words, or the same letters in other words, are not a reordering.
        assert!(!same_words_reordered(b"a b c", b"a b d"));
        assert!(!same_words_reordered(b"ab c", b"ba c"));
        assert!(!same_words_reordered(b"a b", b"a  b"));
    }

    #[test]
    fn reordered_words_carry_both_lines_as_evidence() {
        let k = KnownValues::default();
        let c = Classifier {
            path: "f",
            known: &k,
            text: true,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
            budget: None,
        };
        let r = c.classify(b"x\nb c a\n", b"x\na b c\n");
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].a.as_str(), r[0].b.as_str()), ("b c a", "a b c"));
        assert_eq!((r[0].line, r[0].offset), (Some(2), Some(2)));
        assert_eq!(
            r[0].context.as_deref(),
            Some("same 3 words in another order")
        );
    }

    #[test]
    fn reordered_words_in_a_binary_segment_are_ordering() {
        let k = KnownValues::default();
        let c = Classifier {
            path: "f",
            known: &k,
            text: false,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
            budget: None,
        };
        let a = b"\x7fELF\0\0 alpha beta gamma\0\x01\x02";
        let b = b"\x7fELF\0\0 gamma alpha beta\0\x01\x02";
        let kinds: Vec<_> = c.classify(a, b).into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [ReasonKind::Ordering]);
    }

    #[test]
    fn marker_bytes_in_content_without_known_values_do_not_hide_a_difference() {
        let k = KnownValues::default();
        let c = Classifier {
            path: "f",
            known: &k,
            text: false,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
            budget: None,
        };
        // The bytes of a placeholder's marker right before the only difference.
        let a = b"\x7fELF\x00\x01\x02XYZ\x00tail";
        let b = b"\x7fELF\x00\x01\x02QRS\x00tail";
        let kinds: Vec<_> = c.classify(a, b).into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [ReasonKind::Random]);
    }

    #[test]
    fn other_spans_are_random() {
        let k = KnownValues::default();
        assert_eq!(
            run("seed 8f3a9c\n", "seed 1b2d7e\n", &k),
            [ReasonKind::Random]
        );
        let r = reasons("seed 8f3a9c\n", "seed 1b2d7e\n", &k);
        assert_eq!(r[0].high_entropy, Some(true));
        assert_eq!(
            r[0].note.as_deref(),
            Some("high-entropy (hex): looks random")
        );
    }

    #[test]
    fn binary_le_epoch_in_known_windows_is_a_timestamp() {
        let w = |t: i64| crate::diff::TimeWindow {
            start: t - 5,
            end: t + 5,
        };
        let k = KnownValues {
            clock: Some((w(1_795_000_000), w(1_900_000_000))),
            ..KnownValues::default()
        };
        let mut a = vec![0u8; 16];
        let mut b = vec![0u8; 16];
        a[4..8].copy_from_slice(&1_795_000_000u32.to_le_bytes());
        b[4..8].copy_from_slice(&1_900_000_000u32.to_le_bytes());
        let c = Classifier {
            path: "f",
            known: &k,
            text: false,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
            budget: None,
        };
        let kinds: Vec<_> = c.classify(&a, &b).into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [ReasonKind::Timestamp]);
    }
}
