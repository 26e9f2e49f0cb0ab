#!/bin/sh
# Writes a C header with a table of squares (deterministic: same input, same bytes).
count=16
{
  echo "#define SQUARES_COUNT $count"
  printf 'static const int squares[] = {'
  i=0
  while [ "$i" -lt "$count" ]; do
    [ "$i" -gt 0 ] && printf ', '
    printf '%d' $((i * i))
    i=$((i + 1))
  done
  echo '};'
} > "$1"
