#!/usr/bin/env bash
# Runs reprobe's benchmarks and prints their results as one Markdown table (benchmark |
# reprobe | reference | ratio/target), preceded by a line naming the machine and the
# date: the Performance table of the README. Every figure is parsed from the benchmarks'
# own output; each benchmark's full output is kept in target/bench-table/NAME.log.
#
# Usage: bash benches/table.sh            (from anywhere in the repository)
# Sizes, smaller than the benchmarks' defaults so the whole table takes minutes:
#   HASH_MIB (default 256)      size of the hashing benchmark's file and tree, in MiB
#   EXPLAIN_STEPS (10000)       steps of each manifest of the explain benchmark
#   NINJA_RUNS (5)              runs of the import benchmark (median)
#   OBSERVE_RUNS (3)            rounds of the observation benchmark (median)
#   CLOCK_ROUNDS (3)            rounds of the clock benchmark (median)
#   DIFF_RUNS (3)               runs of the diff benchmark (best)
#   REMOTE_RUNS (5)             runs of the remote cache benchmark (median)
#   REMOTE_BENCH_DIR (/dev/shm) where that benchmark's stores go
# TABLE_FROM_LOGS=1 prints the table from the logs of the last run, running nothing.
# The table goes to stdout; progress and the total time go to stderr.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
logs=$root/target/bench-table
mkdir -p "$logs"
started=$(date +%s)

hash_mib=${HASH_MIB:-256}
explain_steps=${EXPLAIN_STEPS:-10000}
ninja_runs=${NINJA_RUNS:-5}
observe_runs=${OBSERVE_RUNS:-3}
clock_rounds=${CLOCK_ROUNDS:-3}
diff_runs=${DIFF_RUNS:-3}
remote_runs=${REMOTE_RUNS:-5}

say() { echo "table.sh: $*" >&2; }

# run NAME CMD...: runs one benchmark, its output to $logs/NAME.log; says how long it took.
run() {
    local name=$1 t0 rc
    shift
    say "running $name: $*"
    t0=$(date +%s)
    "$@" > "$logs/$name.log" 2>&1
    rc=$?
    say "$name: exit $rc after $(($(date +%s) - t0)) s"
}

# field LOG REGEX: the first capture group of the first line of LOG matching the
# extended REGEX (empty when none matches), so a missing figure shows as "?".
field() {
    sed -nE "s#.*$2.*#\\1#p" "$logs/$1.log" 2>/dev/null | head -1
}
or_q() { if [ -n "$1" ]; then printf '%s' "$1"; else printf '?'; fi; }
# ratio A B: A / B with two decimals, or "?" when either is missing or B is zero.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "?"; else printf "%.2f", a / b }'
}

if [ -z "${TABLE_FROM_LOGS:-}" ]; then
    say "building the release binary"
    if ! cargo build --release --quiet; then
        say "cargo build --release failed"
        exit 1
    fi
    bin=$root/target/release/reprobe

    run hash env REPROBE_BENCH_MIB="$hash_mib" cargo bench --quiet --bench hash
    run check cargo bench --quiet --bench check
    run explain env REPROBE_BENCH_STEPS="$explain_steps" cargo bench --quiet --bench explain
    run diff env RUNS="$diff_runs" SKIP_DIFFOSCOPE="${SKIP_DIFFOSCOPE:-}" bash benches/diff-bench.sh
    if command -v ninja > /dev/null; then
        run ninja bash benches/ninja_import.sh "$ninja_runs"
    else
        echo "ninja is not installed" > "$logs/ninja.log"
    fi
    run observe sh benches/observe.sh "$bin" "$observe_runs"
    if command -v javac > /dev/null && command -v jar > /dev/null; then
        run clock bash benches/clock.sh "$bin" "$clock_rounds"
    else
        echo "javac or jar is not installed" > "$logs/clock.log"
    fi
    if [ -x "$root/.venv-buildgrid/bin/bgd" ]; then
        # Both stores on tmpfs: on ext4, creating the fresh store's 2,000 files costs from
        # 0.2 s to seconds depending on what was deleted on the disk shortly before.
        run remote env BENCH_DIR="${REMOTE_BENCH_DIR:-/dev/shm}" bash benches/remote.sh 1000 "$remote_runs"
    else
        echo "BuildGrid is not installed (bash scripts/install-buildgrid.sh)" > "$logs/remote.log"
    fi
fi

num='([0-9.]+)'

# hash
file_ours=$(field hash "one file +reprobe +$num MiB/s")
file_theirs=$(field hash "one file .*sha256sum +$num MiB/s")
file_ratio=$(field hash "one file .*ratio $num")
tree_ours=$(field hash "^tree +reprobe +$num MiB/s")
tree_theirs=$(field hash "^tree .*-P2 sha256sum +$num MiB/s")
tree_ratio=$(field hash "^tree .*-P2 sha256sum +[0-9.]+ MiB/s \\($num")
tree_files=$(field hash "MiB file; ([0-9]+) files")

# check
chain_build=$(field check "chain of 8 .*build --no-cache ${num}s")
chain_check=$(field check "chain of 8 .*check ${num}s")
chain_ratio=$(field check "chain of 8 .*ratio ${num}x")
par_build=$(field check "parallel branches.*build --no-cache ${num}s")
par_check=$(field check "parallel branches.*check ${num}s")
par_ratio=$(field check "parallel branches.*ratio ${num}x")
bis_plain=$(field check "umask: check --no-bisect ${num}s")
bis_full=$(field check "umask: .*with bisection ${num}s")
bis_runs=$(field check "umask: .*\\(([0-9?]+) re-runs")
bis_ratio=$(field check "umask: .*ratio ${num}x")
triv_steps=$(field check "\\] ([0-9]+) trivial steps")
triv_ours=$(field check "trivial steps.*reprobe build ${num}s")
triv_sh=$(field check "trivial steps.*plain sh ${num}s")
triv_ms=$(field check "cost ([-0-9.]+) ms per step")

# explain
explain_wall=$(field explain "reprobe explain OLD NEW, terminal output.*: ${num}s wall")
challenge_n=$(field explain "reprobe challenge of ([0-9]+) manifests")
challenge_wall=$(field explain "reprobe challenge of .*: ${num}s wall")
explain_files=$(field explain "manifests of [0-9]+ steps, ([0-9]+) input files")

# diff
tree_line_ok=$(field diff "(reprobe diff: [0-9.]+s \\([0-9]+ items\\))")
diff_tree=$(field diff "reprobe diff: ${num}s \\([0-9]+ items\\)")
diff_items=$(field diff "reprobe diff: [0-9.]+s \\(([0-9]+) items\\)")
diff_rq=$(field diff "diff -rq: ${num}s")
diff_tgz=$(field diff "reprobe diff: ${num}s \\([0-9]+ member items\\)")
diff_members=$(field diff "reprobe diff: [0-9.]+s \\(([0-9]+) member items\\)")
diffoscope_tgz=$(field diff "diffoscope tar.gz: ${num}s")
tree_mb=$(field diff "== trees: 5000 files, ([0-9]+) MB")
tgz_mb=$(field diff "== tar.gz: ([0-9]+) MB")

# ninja import
ninja_cpu=$(field ninja "ninja -t commands all: +wall [0-9]+ ms, cpu ([0-9]+) ms")
import_cpu=$(field ninja "reprobe import ninja: +wall [0-9]+ ms, cpu ([0-9]+) ms")
import_ratio=$(field ninja "cpu ratio: ${num}x")
ninja_edges=$(field ninja "build.ninja: ([0-9]+) build statements")

# observe: step time and overhead against `off`, from the table of medians
observe() { awk -v p="$1" -v l="$2" -v c="$3" '$1 == p && $2 == l { print $c; exit }' "$logs/observe.log" 2>/dev/null; }
opens_off=$(observe opens off 3)
opens_files=$(observe opens files 3)
opens_files_over=$(observe opens files 4)
opens_all=$(observe opens all 3)
opens_all_over=$(observe opens all 4)
sys_off=$(observe sysopen off 3)
sys_files=$(observe sysopen files 3)
sys_files_over=$(observe sysopen files 4)

# clock
clock_pushed=$(field clock "clock pushed: .*\\(median ${num}\\)")
clock_real=$(field clock "--no-vary clock: .*\\(median ${num}\\)")
clock_ratio=$(field clock "^ratio: ${num}")

# remote cache: the row `| median of N | LOCAL s | REMOTE s | RATIOx |`
remote_local=$(field remote "^\\| median of [0-9]+ \\| $num s")
remote_remote=$(field remote "^\\| median of [0-9]+ \\| [0-9.]+ s \\| $num s")
remote_ratio=$(field remote "^\\| median of .* \\| ${num}x")
remote_fs=$(field remote "stores on ([a-z0-9]+)")

if [ -n "$diffoscope_tgz" ]; then
    tgz_reference="diffoscope: ${diffoscope_tgz} s"
    tgz_ratio="$(ratio "$diffoscope_tgz" "$diff_tgz")x faster (target >= 20x)"
else
    why=$(sed -nE 's/^== diffoscope: (skipped|not installed).*/\1/p' "$logs/diff.log" 2>/dev/null | head -1)
    tgz_reference="diffoscope: not run$([ -n "$why" ] && printf ' (%s)' "$why")"
    tgz_ratio="target >= 20x faster than diffoscope: not measured"
fi
[ -n "$tree_line_ok" ] || diff_items=""

model=$(sed -nE 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)
echo "Machine: $(nproc) CPUs ($(or_q "$model")), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(date -u '+%Y-%m-%d')."
echo
echo "| benchmark | reprobe | reference | ratio / target |"
echo "| --- | --- | --- | --- |"
echo "| hash one file of $hash_mib MiB | $(or_q "$file_ours") MiB/s | \`sha256sum\`: $(or_q "$file_theirs") MiB/s | $(or_q "$file_ratio")x (target >= 0.9x) |"
echo "| hash a tree of $(or_q "$tree_files") files, $hash_mib MiB | $(or_q "$tree_ours") MiB/s | \`find \\| xargs -P2 sha256sum\`: $(or_q "$tree_theirs") MiB/s | $(or_q "$tree_ratio")x (target >= 1.5x) |"
echo "| \`diff\` two trees of 5,000 files, $(or_q "$tree_mb") MB, 50 differ | $(or_q "$diff_tree") s, $(or_q "$diff_items") items | \`diff -rq\`: $(or_q "$diff_rq") s | $(ratio "$diff_tree" "$diff_rq")x (target <= 1.5x) |"
echo "| \`diff\` two tar.gz of $(or_q "$tgz_mb") MB, 10 members differ | $(or_q "$diff_tgz") s, $(or_q "$diff_members") members | $tgz_reference | $tgz_ratio |"
echo "| \`check\` a chain of 8 single-threaded steps | $(or_q "$chain_check") s | \`build --no-cache\`: $(or_q "$chain_build") s | $(or_q "$chain_ratio")x (target <= 1.3x) |"
echo "| \`check\` 4 parallel branches of 2 steps and a join | $(or_q "$par_check") s | \`build --no-cache\`: $(or_q "$par_build") s | $(or_q "$par_ratio")x (target <= 2.2x) |"
echo "| \`check\` bisecting one step's umask difference | $(or_q "$bis_full") s, $(or_q "$bis_runs") re-runs | \`check --no-bisect\`: $(or_q "$bis_plain") s | $(or_q "$bis_ratio")x |"
echo "| \`build --no-cache -j1\` of $(or_q "$triv_steps") trivial steps | $(or_q "$triv_ours") s, $(or_q "$triv_ms") ms per step over \`sh\` | plain \`sh\`: $(or_q "$triv_sh") s | target < 10 ms per step |"
echo "| \`explain\` two manifests of $explain_steps steps, $(or_q "$explain_files") input files | $(or_q "$explain_wall") s | | target < 1 s |"
echo "| \`challenge\` $(or_q "$challenge_n") such manifests | $(or_q "$challenge_wall") s | | target < 2 s |"
echo "| \`import ninja\` of $(or_q "$ninja_edges") edges (CPU time) | $(or_q "$import_cpu") ms | \`ninja -t commands\`: $(or_q "$ninja_cpu") ms | $(or_q "$import_ratio")x (target <= 2x) |"
echo "| a step opening a work-directory file 100,000 times, observed as \`build\` does; as \`check\` does | $(or_q "$opens_files") ms; $(or_q "$opens_all") ms | no observation: $(or_q "$opens_off") ms | $(or_q "$opens_files_over") (target < 25 %); $(or_q "$opens_all_over") |"
echo "| a step opening \`/usr/include/stdio.h\` 100,000 times, observed as \`build\` does | $(or_q "$sys_files") ms | no observation: $(or_q "$sys_off") ms | $(or_q "$sys_files_over") (target < 25 %) |"
echo "| all-hit \`build\` of 1,000 steps from a BuildGrid cache on loopback, fresh local store on $(or_q "$remote_fs") | $(or_q "$remote_remote") s | all hits in the local store: $(or_q "$remote_local") s | $(or_q "$remote_ratio")x (target <= 2x) |"
echo "| \`check\` of a \`javac\` + \`jar\` step, clock pushed | $(or_q "$clock_pushed") s | \`--no-vary clock\`: $(or_q "$clock_real") s | $(or_q "$clock_ratio")x |"

say "done in $(($(date +%s) - started)) s; logs in $logs"
