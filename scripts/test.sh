#!/usr/bin/env bash
# The test command of the README: installs the few system packages the tests need when
# they are missing, then runs every test (unit, property and integration) of reprobe.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages used by the corpus and the tests: real compilers and archivers.
needed=()
# faketime: the clock variation of `check` pushes the second build years ahead with it.
for pair in gcc:gcc ar:binutils tar:tar gzip:gzip zip:zip unzip:unzip python3:python3 xz:xz-utils zstd:zstd faketime:faketime make:make cmake:cmake meson:meson ninja:ninja-build strace:strace gdb:gdb curl:curl script:bsdutils jar:openjdk-17-jdk-headless; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || needed+=("${pair#*:}")
done
if ((${#needed[@]})); then
  echo "installing missing packages: ${needed[*]}"
  if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${needed[@]}"
fi

cargo fmt --check
cargo test --locked "$@"
