#!/usr/bin/env bash
# usage: run_cmd.sh SRC_DIR 'BUILD CMD' OUT_DIR
# Native truth (truth.sh), then `reprobe check --json --cmd CMD --outputs 'OUT_DIR/**' .`
# in a fresh checkout $SURVEY/c/NAME, then compare.py (one step: the whole command).
set -u
SURVEY=${SURVEY:-/tmp/reprobe-survey}; export SURVEY
S=$(cd "$(dirname "$0")" && pwd); SRC=$1; CMD=$2; OUT=$3
NAME=$(basename "$SRC"); L=$SURVEY/logs; mkdir -p "$L"
R=${REPROBE:-$(cd "$S/../.." && pwd)/target/release/reprobe}
"$S/truth.sh" "$SRC" "$CMD" "$OUT" >"$L/$NAME.truth" 2>&1 || { echo "native build failed"; exit 2; }
tail -1 "$L/$NAME.truth"
rm -rf $SURVEY/c/"$NAME"; mkdir -p $SURVEY/c; cp -a "$SRC" $SURVEY/c/"$NAME"
cd $SURVEY/c/"$NAME" || exit 2
/usr/bin/time -f "%e" -o "$L/$NAME.reprobe.time" "$R" check --json --cmd "$CMD" --outputs "$OUT/**" . \
  >"$L/$NAME.reprobe.json" 2>"$L/$NAME.reprobe.stderr"
echo "reprobe check rc=$? time=$(tail -1 "$L/$NAME.reprobe.time")s"
python3 "$S/compare.py" none "$L/$NAME.reprobe.json" "$L/$NAME.truth" \
  $SURVEY/a/"$NAME" $SURVEY/checkouts/a-longer-path/"$NAME" --whole "$OUT" >"$L/$NAME.compare"
tail -1 "$L/$NAME.compare"
