"""Counts words per initial letter, printed in sorted order (deterministic)."""
import sys

counts = {}
with open(sys.argv[1], encoding="utf-8") as f:
    for word in f.read().split():
        counts[word[0]] = counts.get(word[0], 0) + 1
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for letter in sorted(counts):
        out.write(f"{letter} {counts[letter]}\n")
