#!/usr/bin/env bash
# Bench: `reprobe import ninja` on a generated build.ninja of 20,000 edges, side by side
# with `ninja -t commands` listing the same edges. Usage: benches/ninja_import.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
cargo build --release --quiet
reprobe=$PWD/target/release/reprobe
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import os, sys
root = sys.argv[1]
libs, per_lib = 100, 199          # 100 archives of 199 objects: 19,900 compiles + 100 archives
os.makedirs(f"{root}/out", exist_ok=True)
lines = [
    "cflags = -O2 -Wall",
    "rule cc",
    "  command = cc $cflags $defines -I../include -MD -MF $out.d -c $in -o $out",
    "  depfile = $out.d",
    "  deps = gcc",
    "  description = CC $out",
    "rule ar",
    "  command = rm -f $out && ar rcs $out $in",
    "  description = AR $out",
    "pool link_pool",
    "  depth = 2",
]
archives = []
for l in range(libs):
    d = f"{root}/src/lib{l}"
    os.makedirs(d, exist_ok=True)
    objs = []
    for f in range(per_lib):
        open(f"{d}/f{f}.c", "w").write(f"int f{l}_{f};\n")
        obj = f"obj/lib{l}/f{f}.o"
        objs.append(obj)
        lines.append(f"build {obj}: cc ../src/lib{l}/f{f}.c")
        lines.append(f"  defines = -DLIB={l} -DFILE={f}")
    lines.append(f"build lib/lib{l}.a: ar " + " ".join(objs))
    lines.append("  pool = link_pool")
    archives.append(f"lib/lib{l}.a")
lines.append("build all: phony " + " ".join(archives))
lines.append("default all")
open(f"{root}/out/build.ninja", "w").write("\n".join(lines) + "\n")
PY
edges=$(grep -c '^build ' "$work/out/build.ninja")
echo "build.ninja: $edges build statements ($(du -h "$work/out/build.ninja" | cut -f1)), $(ninja --version) vs reprobe"

# Median over $runs runs of wall time and of CPU time (user + sys), in ms: CPU time is the
# fairer number on a shared machine, where wall time mostly measures the other processes.
# The two commands take turns, so a change in the machine's load reaches both alike.
measure() {
  local line
  line=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1; } 2>&1 )
  awk '{ printf "%d %d\n", $1 * 1000, ($2 + $3) * 1000 }' <<<"$line"
}
median() {
  printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"
}
ninja_walls=() ninja_cpus=() import_walls=() import_cpus=()
for _ in $(seq "$runs"); do
  read -r wall cpu < <(measure ninja -C "$work/out" -t commands all)
  ninja_walls+=("$wall") ninja_cpus+=("$cpu")
  read -r wall cpu < <(measure "$reprobe" import ninja "$work/out/build.ninja" -o "$work/reprobe.toml" --force)
  import_walls+=("$wall") import_cpus+=("$cpu")
done
ninja_wall=$(median "${ninja_walls[@]}") ninja_cpu=$(median "${ninja_cpus[@]}")
import_wall=$(median "${import_walls[@]}") import_cpu=$(median "${import_cpus[@]}")
steps=$(grep -c '^\[steps\.' "$work/reprobe.toml")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "ninja -t commands all:  wall ${ninja_wall} ms, cpu ${ninja_cpu} ms (medians of $runs)"
echo "cpu ms per run: ninja ${ninja_cpus[*]}; reprobe ${import_cpus[*]}"
echo "reprobe import ninja:   wall ${import_wall} ms, cpu ${import_cpu} ms (medians of $runs; $steps steps written and validated)"
awk -v a="$import_cpu" -v b="$ninja_cpu" 'BEGIN { r = a / (b > 0 ? b : 1); printf "cpu ratio: %.2fx (target: at most 2x)\n", r; exit (r <= 2.0 ? 0 : 1) }'
