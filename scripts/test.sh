#!/usr/bin/env bash
# The test command of the README: installs the few system packages the tests need when
# they are missing, then runs every test (unit, property and integration) of reprobe.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages used by the corpus and the tests: real compilers and archivers.
needed=()
for pair in gcc:gcc ar:binutils tar:tar gzip:gzip zip:zip unzip:unzip python3:python3 xz:xz-utils zstd:zstd make:make cmake:cmake meson:meson ninja:ninja-build strace:strace gdb:gdb curl:curl script:bsdutils jar:openjdk-17-jdk-headless redis-server:redis-server; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || needed+=("${pair#*:}")
done
# locales: the sources a second UTF-8 locale is compiled from (below).
[[ -e /usr/share/i18n/locales/en_US ]] || needed+=(locales)
# python3-venv: the virtualenv BuildGrid is installed into (below).
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || needed+=(python3-venv)
if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
if ((${#needed[@]})); then
  echo "installing missing packages: ${needed[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${needed[@]}"
fi

# A second UTF-8 locale, so that `check`'s locale variation has one to switch to (a fresh
# machine has only C.UTF-8, and `check` then reports the variation as not applied).
if ! locale -a 2>/dev/null | grep -qiE '^[a-z]{2}_[A-Z]{2}\.utf-?8$'; then
  echo "generating the en_US.UTF-8 locale"
  "${sudo[@]}" localedef -i en_US -f UTF-8 en_US.UTF-8
fi

# BuildGrid, the Remote Execution API server the remote cache tests run against, with
# its Redis support (the persistent action cache of tests/it/buildgrid/config-persistent.yml,
# beside Debian's redis-server above).
bash scripts/install-buildgrid.sh

cargo fmt --check
cargo test --locked "$@"
