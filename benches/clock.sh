#!/usr/bin/env bash
# What the clock variation costs a JVM step: `check` of a 30-class javac + jar graph,
# with the clock pushed (reprobe's shim preloaded) and with --no-vary clock, taking
# turns, ROUNDS times each; prints each time and the median ratio.
# Usage: bash benches/clock.sh [REPROBE_BINARY] [ROUNDS]
set -euo pipefail
reprobe=${1:-target/release/reprobe}
rounds=${2:-5}
reprobe=$(realpath "$reprobe")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/src/demo"
for i in $(seq 1 30); do
  printf 'package demo;\npublic class C%d { public static long f(long x) { return x + %d; } }\n' "$i" "$i" \
    > "$dir/src/demo/C$i.java"
done
cat > "$dir/reprobe.toml" <<'TOML'
[env]
PATH = "/usr/bin:/bin"
[steps.jar]
run = "mkdir -p classes && javac -d classes src/demo/*.java && jar --create --date=2000-01-01T00:00:00Z --file demo.jar -C classes ."
inputs = ["src/demo/*.java"]
outputs = ["demo.jar"]
TOML
time_of() {
  local start end
  start=$(date +%s.%N)
  "$reprobe" check -q --no-bisect "$@" "$dir" >/dev/null || true
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f\n", b - a }'
}
pushed=(); real=()
for _ in $(seq 1 "$rounds"); do
  pushed+=("$(time_of)")
  real+=("$(time_of --no-vary clock)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "check with the clock pushed: ${pushed[*]} s (median $(median "${pushed[@]}"))"
echo "check with --no-vary clock:  ${real[*]} s (median $(median "${real[@]}"))"
awk -v a="$(median "${pushed[@]}")" -v b="$(median "${real[@]}")" 'BEGIN { printf "ratio: %.2f\n", a / b }'
