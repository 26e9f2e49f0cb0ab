#!/usr/bin/env bash
# Starts a shared cache for `reprobe --remote`: BuildGrid (a Remote Execution API server)
# serving CAS, ByteStream and the Action Cache on PORT, with its blobs on disk under DIR
# and its action cache in memory (a restart keeps the blobs; see docs/remote.md for one
# whose entries outlive restarts). Installs BuildGrid on first use. Runs in the
# foreground until Ctrl-C; machines then use `--remote grpc://HOST:PORT/main`.
#
# Usage: bash scripts/remote-server.sh [PORT (50051)] [DIR (~/.cache/reprobe-remote)] [ADDRESS (0.0.0.0)]
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-50051}
dir=${2:-${XDG_CACHE_HOME:-$HOME/.cache}/reprobe-remote}
address=${3:-0.0.0.0}
bash scripts/install-buildgrid.sh
mkdir -p "$dir/cas"
sed -e "s/127.0.0.1:@PORT@/$address:$port/" -e "s#@STORAGE@#$dir/cas#" -e 's/@INSTANCE@/main/' \
    tests/it/buildgrid/config.yml > "$dir/config.yml"
echo "reprobe remote cache: grpc://$(hostname):$port/main (blobs in $dir/cas; Ctrl-C stops it)"
exec .venv-buildgrid/bin/bgd server start "$dir/config.yml"
