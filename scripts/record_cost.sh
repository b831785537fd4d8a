#!/usr/bin/env bash
# The monitor's own cost, measured on the process a user runs: a real
# `trainwatt record --no-train` at 10 Hz, side by side in the same run with a
# C program that does nothing but wake up 10 times a second (the floor any
# 10 Hz sampler pays on this machine). Both run for the same time; CPU comes
# from /proc/PID/task/*/schedstat (ns on CPU, all threads), peak RSS from VmHWM.
#
#   scripts/record_cost.sh [SECONDS] [SOURCE]        (default 60 s, estimate)
#
# Uses target/release/trainwatt (built here without libtorch when missing:
# `cargo build --release --no-default-features`).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
source=${2:-estimate}
bin=target/release/trainwatt
[ -x "$bin" ] || cargo build --release --no-default-features
dir=$(mktemp -d)
trap 'kill "$rec" "$wake" 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/wake.c" <<'C'
#include <time.h>
int main(void) {
    struct timespec ts = {0, 100000000};
    for (;;) nanosleep(&ts, 0);
}
C
"${CC:-cc}" -O2 -o "$dir/wake" "$dir/wake.c"

cpu_ns() { # time on CPU of every thread of a process, in ns (schedstat)
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'
}

"$bin" record --no-train --source "$source" --interval-ms 100 -q -o "$dir/s.jsonl" &
rec=$!
"$dir/wake" &
wake=$!
sleep 3 # start-up (sources, header) is not the steady cost
r0=$(cpu_ns "$rec"); w0=$(cpu_ns "$wake"); t0=$(date +%s.%N)
sleep "$secs"
r1=$(cpu_ns "$rec"); w1=$(cpu_ns "$wake"); t1=$(date +%s.%N)
hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$rec/status")
threads=$(awk '/Threads/ { print $2 }' "/proc/$rec/status")
kill -TERM "$rec"; wait "$rec" || true
kill "$wake" 2>/dev/null || true

awk -v r="$((r1 - r0))" -v w="$((w1 - w0))" -v t0="$t0" -v t1="$t1" \
    -v hwm="$hwm" -v th="$threads" -v src="$source" 'BEGIN {
  wall = t1 - t0
  rp = r / 1e9 / wall * 100; wp = w / 1e9 / wall * 100
  printf "over %.1f s (CPU time from /proc/PID/task/*/schedstat, ns):\n", wall
  printf "  trainwatt record --no-train --source %s @ 10 Hz: %.3f%% of one core (%d threads), peak RSS %.1f MB\n", src, rp, th, hwm / 1024
  printf "  C program waking at 10 Hz:                  %.3f%% of one core\n", wp
  if (w > 0) printf "  ratio: %.2fx the floor\n", r / w
  else printf "  ratio: the floor read 0 ns: run longer\n"
}'
samples=$(grep -c '^\[' "$dir/s.jsonl" || true)
echo "  samples recorded: $samples (the closing line is there: $(tail -1 "$dir/s.jsonl" | grep -q '"ev":"end"' && echo yes || echo no))"
