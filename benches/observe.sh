#!/bin/sh
# Cost of observing a step (seccomp user notification, src/sandbox/observe.rs; the
# tripwire file system, src/sandbox/tripwire.rs).
#
# Builds two one-step graphs with `reprobe build --no-cache`, RUNS times each, under
# REPROBE_OBSERVE=off (no filter), network (network calls only), all (network calls
# and opens, opens recorded by the tripwire: the default of `check`) and all-seccomp
# (opens observed one by one with seccomp, REPROBE_TRIPWIRE=off), and prints the median
# wall time of the whole build:
#   opens   a C program making 100,000 open+close calls on a file of its work directory
#   sysopen a C program making 100,000 open+close calls on /usr/include/stdio.h
#   quiet   a C program computing for a while, with no system call of interest
# Usage: benches/observe.sh [REPROBE_BINARY] [RUNS]
set -eu
BIN=${1:-target/release/reprobe}
RUNS=${2:-5}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
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

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for prog in opens sysopen quiet; do
  for level in off network all all-seccomp; do
    tripwire=on
    observe=$level
    if [ "$level" = all-seccomp ]; then tripwire=off observe=all; fi
    times=$(for _ in $(seq "$RUNS"); do
      start=$(date +%s.%N)
      (cd "$WORK/$prog" && REPROBE_OBSERVE=$observe REPROBE_TRIPWIRE=$tripwire \
        "$BIN" build --no-cache -q >/dev/null)
      end=$(date +%s.%N)
      echo "$end - $start" | bc
    done | median)
    printf '%-6s %-12s %ss\n' "$prog" "$level" "$times"
  done
done
