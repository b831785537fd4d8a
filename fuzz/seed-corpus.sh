#!/bin/sh
# Fills fuzz/corpus/<target>/ (ignored by git) with the committed seeds and,
# when ../shared/fixtures exists, the first lines of a few fixture files,
# cut at fuzz time so no fixture copy is ever committed.
set -e
cd "$(dirname "$0")"
fx=../../shared/fixtures
for t in session_reader tegrastats nvidia_smi protocol theme; do
  mkdir -p "corpus/$t"
  cp seeds/$t/* "corpus/$t/"
done
cp ../themes/*.toml corpus/theme/ 2>/dev/null || true
head -n 40 ../recordings/default.jsonl > corpus/session_reader/recording_head.jsonl
if [ -d "$fx" ]; then
  i=0
  for f in $(find "$fx/tegrastats" -type f -name '*.log' 2>/dev/null | sort | head -n 12); do
    i=$((i + 1)); head -n 6 "$f" > "corpus/tegrastats/fixture_$i.log"
  done
  i=0
  for f in $(find "$fx/nvidia-smi" -type f 2>/dev/null | sort | head -n 12); do
    # The first byte selects importer options (tests/support/fuzz_checks.rs).
    i=$((i + 1)); { printf '\000'; head -n 8 "$f"; } > "corpus/nvidia_smi/fixture_$i.csv"
  done
fi
