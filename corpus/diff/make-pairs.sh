#!/bin/sh
# Builds pairs of real artifacts twice with real tools, so that each pair differs for one
# known reason. Usage: make-pairs.sh OUT
#
# OUT/a/NAME and OUT/b/NAME are the two builds of each artifact; the builds ran in
# OUT/w/a and OUT/w/bbbbbb (two build paths of different lengths). Expected reasons:
#
#   members.tar     tar without --mtime: member mtimes differ         archive-metadata
#   unsorted.tar    tar without --sort: readdir order differs          ordering
#   hello.txt.gz    gzip without -n: header mtime differs              archive-metadata
#   files.zip       zip: DOS timestamps and extra fields differ        archive-metadata
#   libhello.a      ar without D (U): member timestamps differ         archive-metadata
#   stamp.o         gcc, __DATE__/__TIME__ (SOURCE_DATE_EPOCH differs) timestamp
#   debug.o         gcc -g built in two directories                    build_path
#   listing.txt     a file listing in readdir order                    ordering
#   members.tar.xz  members.tar compressed by xz                       archive-metadata
#   members.tar.zst members.tar compressed by zstd                     archive-metadata
#   hello.deb       a .deb (ar: debian-binary, control.tar.xz,         timestamp, in
#                   data.tar.zst) whose data holds the build date      hello.deb!data.tar.zst!/usr/share/hello/stamp.txt
#   same.txt        identical                                          (none)
#
# Readdir order differs only on a filesystem that lists entries in creation order, like
# tmpfs: the sources of the ordering pairs are created under $REPROBE_TMPFS (default
# /dev/shm) in one order for a and the reverse order for b, as `check`'s fileorder does.
set -eu

out=${1:?usage: make-pairs.sh OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmpfs=${REPROBE_TMPFS:-/dev/shm}
scratch=$(mktemp -d "$tmpfs/reprobe-pairs.XXXXXX")
trap 'rm -rf "$scratch"' EXIT INT TERM

export LC_ALL=C TZ=UTC

# build SIDE WORKDIR TIME ORDER: one build of every artifact.
build() {
    side=$1 work=$2 when=$3 order=$4
    dest=$out/$side
    mkdir -p "$dest" "$work"
    cd "$work"

    # Sources, stamped with this build's time.
    mkdir -p src
    printf 'int hello(void) { return 42; }\n' > src/hello.c
    printf 'int world(void) { return 7; }\n' > src/world.c
    printf 'hello, reproducible world\n' > src/hello.txt
    printf 'const char *stamp = "built " __DATE__ " " __TIME__;\n' > src/stamp.c
    touch -d "@$when" src/*

    tar -cf "$dest/members.tar" src/hello.c src/world.c src/hello.txt
    xz -T1 -c "$dest/members.tar" > "$dest/members.tar.xz"
    zstd -q -c "$dest/members.tar" > "$dest/members.tar.zst"

    # A .deb laid out by hand as dpkg-deb does: normalised tars, a deterministic ar; only
    # the build date written into the package's data differs.
    rm -rf deb && mkdir -p deb/control deb/data/usr/share/hello
    printf 'Package: hello\nVersion: 1.0\nArchitecture: all\nMaintainer: nobody <nobody@example.org>\nDescription: hello\n' > deb/control/control
    printf 'hello, reproducible world\n' > deb/data/usr/share/hello/hello.txt
    date -u -d "@$when" '+built %Y-%m-%dT%H:%M:%SZ' > deb/data/usr/share/hello/stamp.txt
    printf '2.0\n' > deb/debian-binary
    norm="--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner"
    (cd deb/control && tar $norm -cf - . | xz -T1 -c > ../control.tar.xz)
    (cd deb/data && tar $norm -cf - . | zstd -q -c > ../data.tar.zst)
    rm -f "$dest/hello.deb"
    (cd deb && ar rcD "$dest/hello.deb" debian-binary control.tar.xz data.tar.zst)

    cp src/hello.txt hello.txt && touch -d "@$when" hello.txt
    gzip -c hello.txt > "$dest/hello.txt.gz"

    rm -f "$dest/files.zip"
    zip -q "$dest/files.zip" src/hello.c src/hello.txt

    gcc -c src/hello.c -o hello.o
    gcc -c src/world.c -o world.o
    touch -d "@$when" hello.o world.o
    rm -f "$dest/libhello.a"
    ar rcU "$dest/libhello.a" hello.o world.o

    SOURCE_DATE_EPOCH=$when gcc -c src/stamp.c -o "$dest/stamp.o"
    gcc -g -O0 -c "$work/src/hello.c" -o "$dest/debug.o"

    # Readdir order: create the same files in the given order on tmpfs.
    tree=$scratch/$side/tree
    mkdir -p "$tree"
    for f in $order; do printf '%s\n' "$f" > "$tree/$f"; touch -d "@$when" "$tree/$f"; done
    (cd "$tree" && find . -type f > "$dest/listing.txt")
    (cd "$scratch/$side" && tar --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$dest/unsorted.tar" tree)

    printf 'nothing varies here\n' > "$dest/same.txt"
}

build a "$out/w/a" 1700000000 "alpha beta gamma delta epsilon"
build b "$out/w/bbbbbb" 1800000000 "epsilon delta gamma beta alpha"
echo "pairs in $out/a and $out/b (build paths $out/w/a and $out/w/bbbbbb)"
