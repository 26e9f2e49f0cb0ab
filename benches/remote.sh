#!/usr/bin/env bash
# The remote cache's speed: `build` of a graph of N trivial steps (default 1,000) in which
# every step is a cache hit, taken from a fresh local store through a BuildGrid server on
# loopback (the remote tier: GetActionResult, the entry and its blobs downloaded and
# written into the store), against the same build with every hit in the local store.
# Target: remote <= 2x local. Prints one Markdown row (steps | local | remote | ratio),
# preceded by the machine and the date.
#
# Usage: bash benches/remote.sh [STEPS] [RUNS]     (RUNS: median of, default 3)
# BENCH_DIR: where the stores go (default $TMPDIR or /tmp); /dev/shm takes the disk's
# file-creation cost out of the remote figure (a remote hit writes a blob and an entry).
# Needs the BuildGrid virtualenv of scripts/test.sh (.venv-buildgrid) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
steps=${1:-1000}
runs=${2:-3}
bgd=$root/.venv-buildgrid/bin/bgd
[ -x "$bgd" ] || { echo "remote.sh: no $bgd; run scripts/test.sh once to install BuildGrid" >&2; exit 1; }
cargo build --release --quiet
reprobe=$root/target/release/reprobe
work=$(mktemp -d -p "${BENCH_DIR:-${TMPDIR:-/tmp}}")
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill -9 -- "-$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The server: the test configuration, on a free port, with its own disk storage.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/cas"
sed -e "s/@PORT@/$port/" -e "s#@STORAGE@#$work/cas#" -e "s/@INSTANCE@/bench/" \
    tests/it/buildgrid/config.yml > "$work/config.yml"
setsid "$bgd" server start "$work/config.yml" > "$work/server.log" 2>&1 &
server_pid=$!
url=grpc://127.0.0.1:$port/bench

# The graph: STEPS independent steps, each writing one small file.
mkdir -p "$work/project"
{
    echo '[env]'
    echo 'PATH = "/usr/bin:/bin"'
    for i in $(seq 1 "$steps"); do
        printf '[steps.s%d]\nrun = "echo %d > o%d.txt"\noutputs = ["o%d.txt"]\n' "$i" "$i" "$i" "$i"
    done
} > "$work/project/reprobe.toml"

# Wait for the server, then fill it (and a first local store) with one real build.
for _ in $(seq 1 150); do
    if "$reprobe" build "$work/project" --store "$work/warm" --remote "$url" -q 2> "$work/first.err"; then
        grep -q "cannot connect" "$work/first.err" || break
    fi
    rm -rf "$work/warm"
    sleep 0.2
done
grep -q "cannot connect" "$work/first.err" && { echo "remote.sh: BuildGrid did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

# seconds CMD...: wall time of one run, in seconds.
seconds() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > /dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Each remote run gets a new store, removed only at the end: creating thousands of files
# right after removing thousands costs ext4 far more (its search for recently deleted
# inodes) than the creation itself.
local_times=() remote_times=()
for r in $(seq 1 "$runs"); do
    local_times+=("$(seconds "$reprobe" build "$work/project" --store "$work/warm" -q)")
    remote_times+=("$(seconds "$reprobe" build "$work/project" --store "$work/fresh$r" --remote "$url" -q)")
done
# The fresh store's last build must have taken every step from the server.
cached=$("$reprobe" build "$work/project" --store "$work/check" --remote "$url" --json \
    | grep -c '"cache_source": "remote"' || true)
[ "$cached" = "$steps" ] || { echo "remote.sh: only $cached of $steps steps came from the server" >&2; exit 1; }

local_s=$(printf '%s\n' "${local_times[@]}" | median)
remote_s=$(printf '%s\n' "${remote_times[@]}" | median)
ratio=$(awk -v a="$remote_s" -v b="$local_s" 'BEGIN { printf "%.2f", a / b }')
echo "machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg); stores on $(df --output=fstype "$work" | tail -1) ($work); $(date -u +%Y-%m-%d)"
echo
echo "| all-hit build of $steps trivial steps | local store | remote (BuildGrid, loopback, fresh store) | ratio (target <= 2x) |"
echo "| --- | --- | --- | --- |"
echo "| median of $runs | ${local_s} s | ${remote_s} s | ${ratio}x |"
