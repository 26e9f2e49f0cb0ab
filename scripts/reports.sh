#!/usr/bin/env bash
# Regenerates reports/ from the corpus: for every example, what `reprobe check` prints
# (terminal text, JSON, Markdown, HTML, JUnit), so a reader can see reprobe's output
# without running it. The graph examples (corpus/*/reprobe.toml) are checked as they
# are; the CMake and Meson projects are configured and built once with ninja, then
# checked with `--ninja`, and the make project with `--cmd` (docs/your-project.md). Usage: bash scripts/reports.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/reprobe
out=$PWD/reports
mkdir -p "$out"

# report NAME PREPARE [CHECK ARGS...]: copies corpus/NAME to a temporary directory, runs
# the shell command PREPARE there (":" for nothing), then `reprobe check ARGS` twice.
report() {
  local name=$1 prepare=$2
  shift 2
  local work
  work=$(mktemp -d)
  cp -r "corpus/$name"/. "$work"/
  rm -rf "$work/.reprobe"
  echo "== $name"
  (cd "$work" && eval "$prepare") > /dev/null
  set +e
  # One run gives the machine reports, a second one what a person sees in a terminal.
  (cd "$work" && "$bin" check "$@" --json --markdown "$out/$name.check.md" \
      --html "$out/$name.check.html" --junit "$out/$name.check.junit.xml" \
      > "$out/$name.check.json")
  local status=$?
  (cd "$work" && NO_COLOR=1 "$bin" check "$@" > "$out/$name.check.txt" 2>&1)
  set -e
  echo "   exit $status"
  rm -rf "$work"
}

for graph in corpus/*/reprobe.toml; do
  name=$(basename "$(dirname "$graph")")
  # corpus/explain is driven by tests/it/explain.rs (its tool directory is filled in there)
  [[ $name == explain ]] && continue
  report "$name" :
done

report cmake-lib 'cmake -S . -B build -G Ninja && ninja -C build' --ninja build/build.ninja
report meson-lib 'meson setup builddir && ninja -C builddir' --ninja builddir/build.ninja
report make-project : --cmd make --outputs 'build/**' .
