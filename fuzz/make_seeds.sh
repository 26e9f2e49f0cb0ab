#!/usr/bin/env bash
# Writes small valid inputs of every format into fuzz/seeds/TARGET/, the starting
# corpus of each fuzz target. Uses tar, gzip, xz, zstd, zip, ar and gcc when present.
set -euo pipefail
cd "$(dirname "$0")"
seeds=$PWD/seeds
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p d/sub
printf 'hello\nworld\n' > d/a.txt
printf '{"b": 1, "a": [1, 2, {"c": null}]}\n' > d/sub/b.json
ln -s a.txt d/link
for t in tar gzip xz zstd zip ar elf json text graph_parse manifest_read; do
    mkdir -p "$seeds/diff_$t" 2>/dev/null || true
done
rmdir "$seeds/diff_graph_parse" "$seeds/diff_manifest_read" 2>/dev/null || true
mkdir -p "$seeds/graph_parse" "$seeds/manifest_read" "$seeds/ninja_parse"
# fuzz/seeds/ninja_parse/ holds hand-written Ninja manifests and depfiles (committed).
have() { command -v "$1" >/dev/null 2>&1; }
have tar && tar --sort=name --owner=0 --group=0 -cf "$seeds/diff_tar/plain.tar" d && tar --format=gnu -cf "$seeds/diff_tar/gnu.tar" d
have tar && tar --format=pax -cf "$seeds/diff_tar/pax.tar" d
have gzip && gzip -nc d/a.txt > "$seeds/diff_gzip/a.gz" && gzip -c "$seeds/diff_tar/plain.tar" > "$seeds/diff_gzip/tar.gz"
have xz && xz -c d/a.txt > "$seeds/diff_xz/a.xz"
have zstd && zstd -qc d/a.txt > "$seeds/diff_zstd/a.zst"
have zip && (zip -qry "$seeds/diff_zip/d.zip" d)
if have ar && have gcc; then
    printf 'int f(void) { return 1; }\n' > f.c
    gcc -c -O2 f.c -o f.o && cp f.o "$seeds/diff_elf/f.o"
    ar rcD "$seeds/diff_ar/lib.a" f.o d/a.txt
fi
cp d/sub/b.json "$seeds/diff_json/b.json"
# Hostile seeds (small enough to commit): a gzip bomb of 8 members of 1 MiB of zeros
# each, and a zip whose 16 central directory entries all point at one local entry (their
# data overlap: the shape of the zip bombs that expand without bound).
if have python3; then
    python3 - "$seeds" <<'PY'
import gzip, struct, sys, zlib
seeds = sys.argv[1]
member = gzip.compress(bytes(1 << 20), compresslevel=9, mtime=0)
open(f"{seeds}/diff_gzip/bomb.gz", "wb").write(member * 8)
data = bytes(1 << 20)
c = zlib.compressobj(9, zlib.DEFLATED, -15)
deflated = c.compress(data) + c.flush()
crc = zlib.crc32(data)
def fixed(name):
    return struct.pack("<HHHIIIIHH", 20, 0, 8, 0, crc, len(deflated), len(data), len(name), 0)
out = b"PK\x03\x04" + fixed(b"0") + b"0" + deflated
central = len(out)
for k in range(16):
    name = str(k).encode()
    out += b"PK\x01\x02" + struct.pack("<H", 20) + fixed(name) + struct.pack("<HHHII", 0, 0, 0, 0, 0) + name
size = len(out) - central
out += b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 16, 16, size, central, 0)
open(f"{seeds}/diff_zip/overlap.zip", "wb").write(out)
PY
fi
cp d/a.txt "$seeds/diff_text/a.txt"
cd - >/dev/null
root=$(cd "$(dirname "$0")/.." && pwd)
cp "$root"/corpus/*/reprobe.toml "$seeds/graph_parse/" 2>/dev/null || true
for f in "$root"/corpus/*/reprobe.toml; do
    cp "$f" "$seeds/graph_parse/$(basename "$(dirname "$f")").toml"
done
rm -f "$seeds/graph_parse/reprobe.toml"
find "$root/reports" -name '*.json' -size -64k 2>/dev/null | head -20 | while read -r f; do
    cp "$f" "$seeds/manifest_read/"
done
echo "seeds in $seeds:"
for d in "$seeds"/*; do echo "  $(basename "$d"): $(ls "$d" | wc -l)"; done
