#!/bin/sh
# Cost of observing a step (seccomp user notification, src/sandbox/observe/supervisor.rs; the
# tripwire file system, src/sandbox/observe/tripwire.rs).
#
# Builds three one-step graphs with `reprobe build --no-cache`, RUNS rounds, under
# REPROBE_OBSERVE=off (no filter), network (network calls only), files (network calls
# and opens outside the work directory, recorded by the tripwire: the default of
# `build`), all (also the names looked up in the work directory, through an overlay:
# the default of `check`) and all-seccomp (opens observed one by one with seccomp,
# REPROBE_TRIPWIRE=off), and prints the median time of the step (the sandbox's wall
# time, setup included, from the manifest) with its overhead against `off`, and the
# median time of the whole build:
#   opens   a C program making 100,000 open+close calls on a file of its work directory
#   sysopen a C program making 100,000 open+close calls on /usr/include/stdio.h
#   quiet   a C program computing for a while, with no system call of interest
# then the same for real steps: the corpus examples hello-c, multi-step, archives and
# python-env (gcc, tar, gzip, ar, jar, python3), the sum of their steps' times under
# off, files and all.
# Usage: benches/observe.sh [REPROBE_BINARY] [RUNS]
set -eu
BIN=${1:-target/release/reprobe}
RUNS=${2:-5}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
CORPUS=$(cd "$(dirname "$0")/../corpus" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cat > "$WORK/opens.c" <<'C'
#include <fcntl.h>
#include <unistd.h>
int main(void) {
  for (int i = 0; i < 100000; i++) { int fd = open("data.txt", O_RDONLY); close(fd); }
  return 0;
}
C
cat > "$WORK/sysopen.c" <<'C'
#include <fcntl.h>
#include <unistd.h>
int main(void) {
  for (int i = 0; i < 100000; i++) { int fd = open("/usr/include/stdio.h", O_RDONLY); close(fd); }
  return 0;
}
C
cat > "$WORK/quiet.c" <<'C'
#include <stdio.h>
int main(void) {
  volatile unsigned long x = 0;
  for (unsigned long i = 0; i < 400000000UL; i++) x += i;
  printf("%lu\n", x);
  return 0;
}
C
for prog in opens sysopen quiet; do
  mkdir -p "$WORK/$prog"
  gcc -O2 -o "$WORK/$prog/prog" "$WORK/$prog.c"
  echo data > "$WORK/$prog/data.txt"
  cat > "$WORK/$prog/reprobe.toml" <<TOML
[env]
PATH = "/usr/bin:/bin"
[steps.s]
run = "./prog > out"
inputs = ["prog", "data.txt"]
outputs = ["out"]
TOML
done

LEVELS="off network files all all-seccomp"
# Rounds interleave the levels, so that a slow spell of the machine hits all of them.
: > "$WORK/times"
for round in $(seq "$RUNS"); do
  for prog in opens sysopen quiet; do
    for level in $LEVELS; do
      tripwire=on
      observe=$level
      if [ "$level" = all-seccomp ]; then tripwire=off observe=all; fi
      start=$(date +%s%N)
      step_ms=$(cd "$WORK/$prog" && REPROBE_OBSERVE=$observe REPROBE_TRIPWIRE=$tripwire \
        "$BIN" build --no-cache --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["steps"][0]["duration_ms"])')
      end=$(date +%s%N)
      echo "$prog $level $step_ms $(( (end - start) / 1000000 ))" >> "$WORK/times"
    done
  done
done

# Median step time (the sandbox's wall time, setup included) and whole-build time, and
# the step's overhead against `off`.
python3 - "$WORK/times" "$LEVELS" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
levels = sys.argv[2].split()
def median(prog, level, column):
    return statistics.median(int(r[column]) for r in rows if r[0] == prog and r[1] == level)
print(f"{'step':8} {'level':12} {'step ms':>8} {'overhead':>9} {'build ms':>9}")
for prog in ("opens", "sysopen", "quiet"):
    base = median(prog, "off", 2)
    for level in levels:
        step = median(prog, level, 2)
        print(f"{prog:8} {level:12} {step:8.0f} {100 * (step - base) / base:+8.0f}% {median(prog, level, 3):9.0f}")
PY

# Real steps: every step of four corpus examples, summed, per level.
EXAMPLES="hello-c multi-step archives python-env"
for example in $EXAMPLES; do cp -r "$CORPUS/$example" "$WORK/$example"; done
: > "$WORK/corpus"
for round in $(seq "$RUNS"); do
  for example in $EXAMPLES; do
    for level in off files all; do
      ms=$(cd "$WORK/$example" && REPROBE_OBSERVE=$level "$BIN" build --no-cache --json |
        python3 -c 'import json,sys; print(sum(s["duration_ms"] for s in json.load(sys.stdin)["steps"]))')
      echo "$example $level $ms" >> "$WORK/corpus"
    done
  done
done
python3 - "$WORK/corpus" "$EXAMPLES" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
print()
print(f"{'example':12} {'off ms':>7} {'files ms':>9} {'all ms':>7}")
for example in sys.argv[2].split():
    m = {level: statistics.median(int(r[2]) for r in rows if r[0] == example and r[1] == level)
         for level in ("off", "files", "all")}
    over = lambda level: 100 * (m[level] - m["off"]) / m["off"]
    print(f"{example:12} {m['off']:7.0f} {m['files']:6.0f} {over('files'):+3.0f}% {m['all']:5.0f} {over('all'):+3.0f}%")
PY
