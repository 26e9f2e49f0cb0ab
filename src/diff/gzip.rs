//! gzip streams: header fields (mtime, file name, OS, flags) and the decompressed content.

use std::io::{BufRead, Read};

use super::compressed::{
    compare_stream, strip_suffix, Decoder, StreamFormat, Trailer, TrailerSlot,
};
use super::context::{Cx, Format};
use super::escape::escape_bytes;
use super::items::{DiffItem, ItemKind};
use super::listing::Meta;

/// A gzip stream (RFC 1952).
pub(crate) struct Gzip;

pub(crate) const GZIP: StreamFormat = StreamFormat {
    kind: ItemKind::Gzip,
    header,
    decoder: |d, trailer| Box::new(Members::new(d, trailer)),
    inner_name,
    remedy: "gzip -n (no name, no mtime), or GZIP=-n for tools that call gzip",
};

impl Format for Gzip {
    fn kind(&self) -> ItemKind {
        ItemKind::Gzip
    }
    fn detect(&self, _name: &str, data: &[u8]) -> bool {
        data.starts_with(&[0x1f, 0x8b])
    }
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        compare_stream(&GZIP, path, a, b, cx)
    }
}

const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

/// The header fields of the first gzip member; empty if the header is cut short.
fn header(data: &[u8]) -> Vec<Meta> {
    let Some(fixed) = data.get(..10) else {
        return Vec::new();
    };
    let flags = fixed[3];
    let mtime = u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let mut out = vec![
        Meta::num("mtime", i64::from(mtime)),
        Meta::num("xfl", i64::from(fixed[8])),
        Meta::num("os", i64::from(fixed[9])),
    ];
    let (name, comment) = names(data, flags);
    out.push(Meta::text(
        "name",
        name.map(|n| escape_bytes(&n))
            .unwrap_or_else(|| "(none)".into()),
    ));
    if let Some(c) = comment {
        out.push(Meta::text("comment", escape_bytes(&c)));
    }
    out
}

/// The optional file name and comment of the header.
fn names(data: &[u8], flags: u8) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let mut pos = 10usize;
    if flags & FEXTRA != 0 {
        let Some(len) = data.get(10..12) else {
            return (None, None);
        };
        pos += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    let mut take_cstr = |present: bool| -> Option<Vec<u8>> {
        if !present {
            return None;
        }
        let rest = data.get(pos..)?;
        let end = rest.iter().position(|&c| c == 0)?;
        pos += end + 1;
        Some(rest[..end].to_vec())
    };
    let name = take_cstr(flags & FNAME != 0);
    let comment = take_cstr(flags & FCOMMENT != 0);
    (name, comment)
}

fn inner_name(data: &[u8], path: &str) -> String {
    let flags = data.get(3).copied().unwrap_or(0);
    match names(data, flags).0 {
        Some(n) if !n.is_empty() => escape_bytes(&n),
        _ => strip_suffix(path),
    }
}

/// Bytes of the compressed stream buffered at a time.
const BUFFER: usize = 64 * 1024;
/// Most bytes after the stream kept to show and compare.
const TRAILER_KEPT: usize = 64 * 1024;

/// Decodes the members of a gzip stream one after the other, as `gzip -d` does. What
/// follows the last member and is not another member (garbage, zeros padding a block)
/// ends the stream without an error: it is recorded in the [`TrailerSlot`], so that the
/// stream itself is compared normally and the bytes after it are reported as such.
struct Members<'a> {
    decoder: Option<flate2::bufread::GzDecoder<Peek<Decoder<'a>>>>,
    trailer: TrailerSlot,
}

impl<'a> Members<'a> {
    fn new(inner: Decoder<'a>, trailer: TrailerSlot) -> Members<'a> {
        let peek = Peek {
            inner,
            buf: Vec::new(),
            pos: 0,
            consumed: 0,
            eof: false,
        };
        Members {
            decoder: Some(flate2::bufread::GzDecoder::new(peek)),
            trailer,
        }
    }

    /// After a member: the next member, the end, or bytes that are not a member.
    fn next_member(&mut self) -> std::io::Result<bool> {
        let Some(decoder) = self.decoder.take() else {
            return Ok(false);
        };
        let mut rest = decoder.into_inner();
        let head = rest.peek(10)?;
        if head.is_empty() {
            return Ok(false);
        }
        if is_member_header(head) {
            self.decoder = Some(flate2::bufread::GzDecoder::new(rest));
            return Ok(true);
        }
        let offset = rest.consumed;
        let mut kept = Vec::new();
        let mut len = 0u64;
        loop {
            let chunk = rest.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len();
            let room = TRAILER_KEPT.saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..n.min(room)]);
            len += n as u64;
            rest.consume(n);
        }
        if let Ok(mut slot) = self.trailer.lock() {
            *slot = Some(Trailer {
                offset,
                len,
                head: kept,
            });
        }
        Ok(false)
    }
}

/// Whether bytes start a gzip member: the magic, deflate, and no reserved flag.
fn is_member_header(head: &[u8]) -> bool {
    head.len() >= 4 && head[..3] == [0x1f, 0x8b, 8] && head[3] & 0xe0 == 0
}

impl Read for Members<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            match decoder.read(buf)? {
                0 => {
                    if !self.next_member()? {
                        return Ok(0);
                    }
                }
                n => return Ok(n),
            }
        }
    }
}

/// A buffered reader that can look ahead a few bytes and counts what was consumed.
struct Peek<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    consumed: u64,
    eof: bool,
}

impl<R: Read> Peek<R> {
    /// Reads more into the buffer; false at the end of the input.
    fn more(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + BUFFER, 0);
        loop {
            match self.inner.read(&mut self.buf[old..]) {
                Ok(0) => {
                    self.buf.truncate(old);
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.buf.truncate(old + n);
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        }
    }

    /// At least `n` buffered bytes, fewer only at the end of the input.
    fn peek(&mut self, n: usize) -> std::io::Result<&[u8]> {
        while self.buf.len() - self.pos < n && self.more()? {}
        Ok(&self.buf[self.pos..])
    }
}

impl<R: Read> Read for Peek<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Peek<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos == self.buf.len() {
            self.more()?;
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len() - self.pos);
        self.pos += n;
        self.consumed += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(name: Option<&str>, mtime: u32) -> Vec<u8> {
        let mut b = flate2::GzBuilder::new().mtime(mtime);
        if let Some(n) = name {
            b = b.filename(n);
        }
        let mut e = b.write(Vec::new(), flate2::Compression::default());
        e.write_all(b"hello\n").unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn header_reads_mtime_and_name() {
        let h = header(&gz(Some("hello.txt"), 1_795_000_000));
        assert_eq!(h[0].num, Some(1_795_000_000));
        assert!(h
            .iter()
            .any(|m| m.field == "name" && m.value == "hello.txt"));
        assert_eq!(inner_name(&gz(Some("hello.txt"), 0), "x.gz"), "hello.txt");
        assert_eq!(inner_name(&gz(None, 0), "dir/x.txt.gz"), "x.txt");
    }

    fn decode(data: &[u8]) -> (std::io::Result<Vec<u8>>, Option<Trailer>) {
        let slot = TrailerSlot::default();
        let mut out = Vec::new();
        let r = Members::new(Box::new(data), slot.clone())
            .read_to_end(&mut out)
            .map(|_| out);
        let t = slot.lock().unwrap().take();
        (r, t)
    }

    #[test]
    fn members_are_decoded_and_garbage_after_them_is_a_trailer() {
        let one = gz(Some("x"), 1);
        let mut two = one.clone();
        two.extend_from_slice(&gz(None, 2));
        let (out, t) = decode(&two);
        assert_eq!(out.unwrap(), b"hello\nhello\n");
        assert!(t.is_none());
        let mut junk = two.clone();
        junk.extend_from_slice(b"\x1f\x8bnot a member");
        let (out, t) = decode(&junk);
        assert_eq!(out.unwrap(), b"hello\nhello\n");
        let t = t.unwrap();
        assert_eq!((t.offset, t.len), (two.len() as u64, 14));
        assert_eq!(t.head, b"\x1f\x8bnot a member");
        // A member whose header is right but whose data is broken is an error.
        let mut broken = one.clone();
        broken.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff]);
        assert!(decode(&broken).0.is_err());
    }

    #[test]
    fn truncated_header_gives_no_fields() {
        assert!(header(&[0x1f, 0x8b, 8]).is_empty());
    }
}
