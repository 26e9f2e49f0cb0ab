#!/usr/bin/env bash
# usage: run_ninja.sh SRC_DIR 'CONFIGURE && BUILD CMD' BUILD_DIR
# Native truth (truth.sh), then `reprobe check --json --ninja BUILD_DIR/build.ninja` in
# checkout 1 (configured and built natively once by truth.sh), then compare.py.
set -u
SURVEY=${SURVEY:-/tmp/reprobe-survey}; export SURVEY
S=$(cd "$(dirname "$0")" && pwd); SRC=$1; CMD=$2; BD=$3
NAME=$(basename "$SRC"); L=$SURVEY/logs; mkdir -p "$L"
R=${REPROBE:-$(cd "$S/../.." && pwd)/target/release/reprobe}
"$S/truth.sh" "$SRC" "$CMD" "$BD" >"$L/$NAME.truth" 2>&1 || { echo "native build failed"; exit 2; }
tail -1 "$L/$NAME.truth"
cd $SURVEY/a/"$NAME" || exit 2
/usr/bin/time -f "%e" -o "$L/$NAME.reprobe.time" "$R" check --json --ninja "$BD/build.ninja" \
  >"$L/$NAME.reprobe.json" 2>"$L/$NAME.reprobe.stderr"
echo "reprobe check rc=$? time=$(tail -1 "$L/$NAME.reprobe.time")s"
"$R" import ninja "$BD/build.ninja" -o ".survey-graph.toml" --force >/dev/null 2>&1
cp .survey-graph.toml "$L/$NAME.graph.toml" 2>/dev/null
python3 "$S/compare.py" "$L/$NAME.graph.toml" "$L/$NAME.reprobe.json" "$L/$NAME.truth" \
  $SURVEY/a/"$NAME" $SURVEY/checkouts/a-longer-path/"$NAME" >"$L/$NAME.compare"
tail -1 "$L/$NAME.compare"
