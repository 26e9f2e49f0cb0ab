#!/bin/bash
# Benchmarks `reprobe diff` against `diff -rq` and diffoscope on the same inputs, side by
# side in one run:
#   trees:  two trees of 5,000 files / 50 MB that differ in 1% (50) of the files
#   tar.gz: two 200 MB tar.gz archives (2,000 members of 100 KB) that differ in 10 members
# Usage: benches/diff-bench.sh [WORKDIR]   (needs ~1 GB free; diffoscope is optional)
# Env: RUNS (default 3) timed runs per tool, the best is reported; DIFFOSCOPE_TIMEOUT
# (default 900 s) bounds each diffoscope run; SKIP_DIFFOSCOPE=1 leaves it out.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$root/target/diff-bench}
runs=${RUNS:-3}
dtimeout=${DIFFOSCOPE_TIMEOUT:-900}
mkdir -p "$work"
cd "$root" && cargo build --release --quiet
reprobe=$root/target/release/reprobe

# make_tree DIR FILES SIZE: FILES random files of SIZE bytes in 50 subdirectories.
make_tree() {
    local dir=$1 files=$2 size=$3
    rm -rf "$dir" && mkdir -p "$dir"
    head -c $((files * size)) /dev/urandom > "$dir.blob"
    (cd "$dir" && split -b "$size" -a 5 -d "$dir.blob" f)
    rm "$dir.blob"
    local i=0
    for f in "$dir"/f*; do
        local sub=$dir/d$((i % 50))
        mkdir -p "$sub" && mv "$f" "$sub/"
        i=$((i + 1))
    done
}

# change_files DIR N: overwrites 24 bytes at offset 100 of every (files/N)-th file with a
# date, as a build that embeds the time would.
change_files() {
    local dir=$1 n=$2 total step i=0 k=0
    total=$(find "$dir" -type f | wc -l)
    step=$((total / n))
    find "$dir" -type f | sort | while read -r f; do
        if [ $((i % step)) -eq 0 ] && [ $k -lt "$n" ]; then
            date -u -d "@$((1800000000 + i))" '+%Y-%m-%dT%H:%M:%SZ' | dd of="$f" bs=1 seek=100 conv=notrunc status=none
            k=$((k + 1))
        fi
        i=$((i + 1))
    done
}

# best CMD...: the best wall time of $runs runs, in seconds (exit status ignored).
best() {
    local t best=""
    for _ in $(seq "$runs"); do
        local s e
        s=$(date +%s.%N)
        "$@" > /dev/null 2>&1 || true
        e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
    done
    printf '%.2f' "$best"
}

once_bounded() {
    local s e
    s=$(date +%s.%N)
    if timeout "$dtimeout" "$@" > "$work/diffoscope.out" 2>&1 || [ $? -eq 1 ]; then
        e=$(date +%s.%N)
        printf '%.2f' "$(echo "$e - $s" | bc)"
    else
        printf 'timeout(>%ss)' "$dtimeout"
    fi
}

echo "== preparing inputs in $work"
if [ ! -f "$work/.ready" ]; then
    make_tree "$work/tree-a" 5000 10240
    rm -rf "$work/tree-b" && cp -a "$work/tree-a" "$work/tree-b"
    change_files "$work/tree-b" 50
    make_tree "$work/tar-a" 2000 102400
    rm -rf "$work/tar-b" && cp -a "$work/tar-a" "$work/tar-b"
    change_files "$work/tar-b" 10
    for s in a b; do
        tar -C "$work/tar-$s" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | gzip -n -1 > "$work/$s.tar.gz"
    done
    touch "$work/.ready"
fi
cat "$work"/tree-a/*/* > /dev/null; cat "$work"/tree-b/*/* "$work"/*.tar.gz > /dev/null  # warm the page cache

echo "== trees: 5000 files, $(du -sm "$work/tree-a" | cut -f1) MB, 50 differ"
count=$("$reprobe" diff --json "$work/tree-a" "$work/tree-b" | grep -c '^      "path"' || true)
t_reprobe=$(best "$reprobe" diff --json "$work/tree-a" "$work/tree-b")
t_diff=$(best diff -rq "$work/tree-a" "$work/tree-b")
echo "reprobe diff: ${t_reprobe}s ($count items)   diff -rq: ${t_diff}s   ratio $(echo "scale=2; $t_reprobe / $t_diff" | bc)"

echo "== tar.gz: $(du -m "$work/a.tar.gz" | cut -f1) MB each, 10 members differ"
members=$("$reprobe" diff --json "$work/a.tar.gz" "$work/b.tar.gz" | grep -c '^      "path": "a.tar.gz!/' || true)
t_tgz=$(best "$reprobe" diff --json "$work/a.tar.gz" "$work/b.tar.gz")
echo "reprobe diff: ${t_tgz}s ($members member items)"

if [ -n "${SKIP_DIFFOSCOPE:-}" ]; then
    echo "== diffoscope: skipped (SKIP_DIFFOSCOPE)"
elif command -v diffoscope > /dev/null; then
    echo "== diffoscope $(diffoscope --version 2>/dev/null | head -1) (one run each, timeout ${dtimeout}s)"
    d_tgz=$(once_bounded diffoscope --text - "$work/a.tar.gz" "$work/b.tar.gz")
    found=$(grep -cE '^│ ├── \./d[0-9]+/f' "$work/diffoscope.out" || true)
    echo "diffoscope tar.gz: ${d_tgz}s (member headers in its output: $found)"
    d_tree=$(once_bounded diffoscope --text - "$work/tree-a" "$work/tree-b")
    echo "diffoscope trees: ${d_tree}s"
else
    echo "== diffoscope: not installed (apt-get install diffoscope-minimal)"
fi
