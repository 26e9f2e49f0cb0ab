#!/bin/sh
# Writes a header recording the build time: a classic cause of unreproducible builds.
printf '#define BUILD_TIME "%s"\n' "$(date -u '+%Y-%m-%d %H:%M:%S')" > "$1"
