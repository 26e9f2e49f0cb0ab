#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (libFuzzer, nightly Rust).
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default: 60 s, every target)
#
# Inputs that crash are copied to fuzz/regressions/TARGET/, which `cargo test --test
# fuzz_regressions` replays in every test run once they are committed. A summary line
# per target (runs, seconds, crashes) is printed at the end and written to
# fuzz/logs/summary.txt. Exit 1 when anything crashed.
set -euo pipefail
secs=${1:-60}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz/run.sh: cargo fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
[ -d seeds/diff_tar ] || ./make_seeds.sh

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build -O
mkdir -p logs
: > logs/summary.txt
crashed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    # Crashers of earlier runs were copied to regressions/ then; count only new ones.
    rm -rf "artifacts/$t"
    echo "== $t (${secs}s)"
    set +e
    cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
        > "logs/$t.log" 2>&1
    status=$?
    set -e
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo "?")
    found=$(find "artifacts/$t" -type f 2>/dev/null | wc -l)
    if [ "$status" -ne 0 ] || [ "$found" -gt 0 ]; then
        crashed=1
        mkdir -p "regressions/$t"
        find "artifacts/$t" -type f -exec cp {} "regressions/$t/" \; 2>/dev/null || true
        echo "$t: CRASH (exit $status, $found artifact(s) copied to fuzz/regressions/$t; see fuzz/logs/$t.log)" | tee -a logs/summary.txt
    else
        echo "$t: ${runs} runs in ${secs}s, no crash" | tee -a logs/summary.txt
    fi
done
exit "$crashed"
