#!/usr/bin/env bash
# Regenerates reports/ from the corpus: for every example graph, what `reprobe check`
# prints (terminal text, JSON, Markdown, HTML, JUnit), so a reader can see reprobe's
# output without running it. Usage: bash scripts/reports.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/reprobe
out=$PWD/reports
mkdir -p "$out"
for graph in corpus/*/reprobe.toml; do
  dir=$(dirname "$graph")
  name=$(basename "$dir")
  # corpus/explain is driven by tests/explain.rs (its tool directory is filled in there)
  [[ $name == explain ]] && continue
  work=$(mktemp -d)
  cp -r "$dir"/. "$work"/
  rm -rf "$work/.reprobe"
  echo "== $name"
  set +e
  # One run gives the machine reports, a second one what a person sees in a terminal.
  (cd "$work" && "$bin" check --json --markdown "$out/$name.check.md" --html "$out/$name.check.html" \
      --junit "$out/$name.check.junit.xml" > "$out/$name.check.json")
  status=$?
  (cd "$work" && NO_COLOR=1 "$bin" check > "$out/$name.check.txt" 2>&1)
  set -e
  echo "   exit $status"
  rm -rf "$work"
done
