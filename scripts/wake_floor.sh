#!/usr/bin/env bash
# The floor under any 10 Hz sampler on this machine: the CPU a program that
# does nothing but wake up every 100 ms uses. Compare with
# `cargo bench --no-default-features --bench sampler_cost`.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/wake.c" <<'C'
#include <stdio.h>
#include <time.h>
#include <sys/resource.h>
static double cpu_us(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}
int main(void) {
    struct timespec ts = {0, 100000000};
    double a = cpu_us();
    for (int i = 0; i < 100; i++) nanosleep(&ts, NULL);
    double us = cpu_us() - a;
    printf("100 wake-ups at 10 Hz: %.1f us CPU per wake-up, %.3f%% of one core\n", us / 100, us / 10e6 * 100);
    return 0;
}
C
"${CC:-cc}" -O2 -o "$dir/wake" "$dir/wake.c"
"$dir/wake"
