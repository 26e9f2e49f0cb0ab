//! Bounded decompression: a decoder read within the limits of one comparison (the total
//! expansion, the ratio of one stream, the time), and its content held only as far as
//! the memory budget allows. A corrupt stream or a limit reached ends the content and
//! says why; it never panics.

use std::io::Read;

use super::budget::Held;
use super::context::Cx;

/// Bytes read from a decoder at a time.
const CHUNK: usize = 256 * 1024;
/// Streams that expand to less than this are never called bombs, whatever the ratio.
const RATIO_FLOOR: u64 = 16 << 20;

/// The result of a bounded decompression: what was produced, and why it stopped early.
#[cfg(test)]
pub(crate) struct Expanded {
    pub data: Vec<u8>,
    pub problem: Option<String>,
}

/// A decompressing reader held within the limits of a [`Cx`]: the total expansion budget
/// and the ratio limit. A corrupt or truncated stream, or a limit reached, ends the
/// stream with an error and records a `problem` (the reader never panics).
pub(crate) struct Bounded<'c, R> {
    inner: R,
    cx: &'c Cx<'c>,
    produced: u64,
    ratio_cap: u64,
    problem: Option<String>,
    /// Whether it stopped at a limit (rather than at corrupt input): what was produced
    /// is only a prefix of the content, not to be compared.
    limited: bool,
}

impl<'c, R: Read> Bounded<'c, R> {
    /// Bounds `inner`, the decoder of a stream of `compressed_len` bytes.
    pub(crate) fn new(inner: R, compressed_len: usize, cx: &'c Cx<'c>) -> Self {
        let ratio_cap = (compressed_len as u64)
            .saturating_mul(cx.opts.max_ratio)
            .max(RATIO_FLOOR);
        Bounded {
            inner,
            cx,
            produced: 0,
            ratio_cap,
            problem: None,
            limited: false,
        }
    }

    /// Whether it stopped at a limit (total expansion or ratio).
    pub(crate) fn limited(&self) -> bool {
        self.limited
    }

    /// Why the stream ended early, if it did.
    pub(crate) fn problem(&self) -> Option<&String> {
        self.problem.as_ref()
    }

    fn stop(&mut self, problem: String) -> std::io::Error {
        let err = std::io::Error::other(problem.clone());
        self.problem.get_or_insert(problem);
        err
    }
}

impl<R: Read> Read for Bounded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(p) = &self.problem {
            return Err(std::io::Error::other(p.clone()));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => return Err(err),
            Err(err) => {
                let produced = self.produced;
                return Err(self.stop(format!(
                    "corrupt or truncated stream after {produced} bytes: {err}"
                )));
            }
        };
        if !self.cx.take_budget(n as u64) {
            self.limited = true;
            let limit = self.cx.opts.max_expanded_bytes;
            return Err(self.stop(format!(
                "decompression stopped: more than {limit} bytes expanded in total (limit)"
            )));
        }
        // The clock is read once per MiB produced.
        let next_mib = (self.produced + n as u64) >> 20 != self.produced >> 20;
        if next_mib && self.cx.budget.out_of_time() {
            self.limited = true;
            let produced = self.produced;
            let note = self
                .cx
                .budget
                .time_note(&format!("decompression stopped after {produced} bytes"));
            return Err(self.stop(note));
        }
        self.produced += n as u64;
        if self.produced > self.ratio_cap {
            self.limited = true;
            let ratio = self.cx.opts.max_ratio;
            return Err(self.stop(format!(
                "decompression stopped: expands more than {ratio}x (possible decompression bomb)"
            )));
        }
        Ok(n)
    }
}

/// Decompresses `reader` (fed `compressed_len` bytes) within the limits of `cx`.
#[cfg(test)]
pub(crate) fn expand<'c>(reader: impl Read, compressed_len: usize, cx: &'c Cx<'c>) -> Expanded {
    let mut bounded = Bounded::new(reader, compressed_len, cx);
    let data = read_rest(&mut bounded, Vec::new());
    Expanded {
        data,
        problem: bounded.problem,
    }
}

/// Content read from a decompressor and held in the memory budget: all of it (`whole`),
/// or the part read before the budget ran out.
pub(crate) struct HeldContent {
    pub data: Vec<u8>,
    pub whole: bool,
    _held: Option<Held>,
}

/// Reads the rest of `reader` after `data` while the memory budget holds it; stops at
/// the first error (recorded by a [`Bounded`] reader), which counts as the end.
pub(crate) fn read_held(reader: &mut impl Read, mut data: Vec<u8>, cx: &Cx) -> HeldContent {
    let Some(mut held) = cx.budget.hold(data.capacity() as u64) else {
        return HeldContent {
            data,
            whole: false,
            _held: None,
        };
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if data.len() + n > data.capacity() {
            // Grow as a Vec would (doubling), but only as far as the budget holds: while
            // the bytes move, the old buffer and the new one are both held.
            let (old, want) = (data.capacity(), (data.capacity() * 2).max(data.len() + n));
            if !held.grow(want as u64) {
                data.reserve_exact(n);
                data.extend_from_slice(&buf[..n]);
                return HeldContent {
                    data,
                    whole: false,
                    _held: Some(held),
                };
            }
            data.reserve_exact(want - data.len());
            held.release(old as u64);
        }
        data.extend_from_slice(&buf[..n]);
    }
    HeldContent {
        data,
        whole: true,
        _held: Some(held),
    }
}

/// A reader whose errors end the stream: a [`Bounded`] reader records why it stopped.
pub(crate) struct Lenient<R>(pub R);

impl<R: Read> Read for Lenient<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Ok(0),
                done => return done,
            }
        }
    }
}

/// Reads the rest of `reader` after `data`; stops at the first error (recorded by a
/// [`Bounded`] reader).
#[cfg(test)]
fn read_rest(reader: &mut impl Read, mut data: Vec<u8>) -> Vec<u8> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return data,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return data,
        }
    }
}

/// Reads up to `n` bytes (fewer only at the end of the stream or on an error).
pub(crate) fn read_head(reader: &mut impl Read, n: usize) -> Vec<u8> {
    let mut head = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    head.truncate(filled);
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn ratio_limit_stops_a_bomb() {
        let opts = super::super::DiffOptions {
            max_ratio: 10,
            ..Default::default()
        };
        let budget = AtomicU64::new(0);
        let limits = crate::diff::budget::Budget::unlimited();
        let cx = Cx {
            opts: &opts,
            depth: 0,
            expanded: &budget,
            budget: &limits,
            recurse: &crate::diff::RECURSE,
        };
        let zeros = std::io::repeat(0).take(64 << 20);
        let e = expand(zeros, 1000, &cx);
        assert!(e.problem.unwrap().contains("bomb"));
        assert!(e.data.len() as u64 <= RATIO_FLOOR + CHUNK as u64);
    }

    #[test]
    fn budget_limit_stops_expansion() {
        let opts = super::super::DiffOptions {
            max_expanded_bytes: 1 << 20,
            ..Default::default()
        };
        let budget = AtomicU64::new(0);
        let limits = crate::diff::budget::Budget::unlimited();
        let cx = Cx {
            opts: &opts,
            depth: 0,
            expanded: &budget,
            budget: &limits,
            recurse: &crate::diff::RECURSE,
        };
        let e = expand(std::io::repeat(1).take(8 << 20), 8 << 20, &cx);
        assert!(e.problem.unwrap().contains("limit"));
    }
}
