#!/usr/bin/env bash
# Native reproducibility truth: build a project twice and list the outputs that differ.
#
# usage: truth.sh SRC_DIR 'BUILD CMD' [OUT_DIR]
#   SRC_DIR   a pristine checkout; copied to  $SURVEY/a/NAME  and
#             $SURVEY/checkouts/a-longer-path/NAME  (two paths of different lengths)
#   BUILD CMD run with bash -c in each copy
#   OUT_DIR   directory (relative to the checkout) whose files are compared; default build
#
# Build 1: TZ=UTC, umask 022.  Build 2: TZ=Pacific/Kiritimati, umask 002, started at least
# TRUTH_GAP seconds (default 2) after build 1 ended.  Both with LANG=C.UTF-8 and
# PATH=/usr/local/bin:/usr/bin:/bin (reprobe's default graph PATH).
# Prints one line per file:  DIFFER path | ONLY1 path | ONLY2 path, then a summary line
#   "truth: N files, D differ, O only-in-one; build1 Xs build2 Ys".
# Exit 0 when the comparison ran (whatever it found), 2 on a build failure.
set -u
SRC=$(cd "$1" && pwd); CMD=$2; OUT=${3:-build}
SURVEY=${SURVEY:-/tmp/reprobe-survey}
NAME=$(basename "$SRC")
D1=$SURVEY/a/$NAME
D2=$SURVEY/checkouts/a-longer-path/$NAME
LOG=$SURVEY/logs; mkdir -p "$LOG"
rm -rf "$D1" "$D2"; mkdir -p "$(dirname "$D1")" "$(dirname "$D2")"
cp -a "$SRC" "$D1"; cp -a "$SRC" "$D2"

build() { # dir tz umask log
  local start end
  start=$(date +%s.%N)
  ( cd "$1" && umask "$3" && env PATH=/usr/local/bin:/usr/bin:/bin TZ="$2" LANG=C.UTF-8 bash -c "$CMD" ) >"$4" 2>&1 || return 1
  end=$(date +%s.%N)
  python3 -c "print(f'{$end-$start:.1f}')"
}
T1=$(build "$D1" UTC 022 "$LOG/$NAME.native1.log") || { echo "build 1 failed, see $LOG/$NAME.native1.log" >&2; exit 2; }
sleep "${TRUTH_GAP:-2}"
T2=$(build "$D2" Pacific/Kiritimati 002 "$LOG/$NAME.native2.log") || { echo "build 2 failed, see $LOG/$NAME.native2.log" >&2; exit 2; }

( cd "$D1/$OUT" && find . -type f | sed 's|^\./||' | sort ) >"$LOG/$NAME.files1"
( cd "$D2/$OUT" && find . -type f | sed 's|^\./||' | sort ) >"$LOG/$NAME.files2"
n=0; d=0; o=0
while IFS= read -r f; do
  n=$((n+1))
  if [ ! -f "$D2/$OUT/$f" ]; then echo "ONLY1 $OUT/$f"; o=$((o+1))
  elif ! cmp -s "$D1/$OUT/$f" "$D2/$OUT/$f"; then echo "DIFFER $OUT/$f"; d=$((d+1)); fi
done <"$LOG/$NAME.files1"
comm -13 "$LOG/$NAME.files1" "$LOG/$NAME.files2" | while IFS= read -r f; do echo "ONLY2 $OUT/$f"; done
o=$((o + $(comm -13 "$LOG/$NAME.files1" "$LOG/$NAME.files2" | wc -l)))
echo "truth: $n files, $d differ, $o only-in-one; build1 ${T1}s build2 ${T2}s"
