#!/usr/bin/env bash
# Installs BuildGrid 0.4.4, a Remote Execution API server, with its Redis support into the
# virtualenv .venv-buildgrid at the root of the repository, when it is not there yet. The
# remote cache tests (tests/it/common/buildgrid.rs) and scripts/remote-server.sh use it.
# Needs python3 with venv (Debian: python3-venv) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
buildgrid_version=0.4.4
venv=.venv-buildgrid
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys, redis; sys.exit(m.version('buildgrid') != '$buildgrid_version')" >/dev/null 2>&1 \
  || [[ ! -x $venv/bin/bgd ]]; then
  echo "installing BuildGrid $buildgrid_version into $venv"
  python3 -m venv --clear "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "buildgrid[redis]==$buildgrid_version"
fi
[[ -e $venv/.gitignore ]] || echo '*' >"$venv/.gitignore"
