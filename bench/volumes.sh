#!/usr/bin/env bash
# Volume benchmarks: skiffd vs dockerd, side by side, in one run.
#
#   bench/volumes.sh
#
# With a private skiffd and a private dockerd (see bench/lib.sh: both in a
# network namespace of the run's own, busybox from a private registry), it
# measures, engines interleaved:
#   1. `docker run --rm -v vol:/data busybox true`: median of RUNS runs after
#      WARMUP (the ratio skiffd/dockerd);
#   2. `dd` of DD_MIB MiB (bs=1M, conv=fsync) into a named volume inside a
#      container: median MB/s of DD_RUNS (both should run at the disk's
#      speed; the time is the dd's own, read from /proc/uptime around it).
# and prints a table (metric, skiffd, dockerd, ratio). Everything is removed
# at exit (bench/lib.sh).
#
# Environment: RUNS=20 WARMUP=2 DD_MIB=1024 DD_RUNS=3, SKIFFD=path (default: cargo
# build --release), DOCKERD= CONTAINERD= DOCKER= KEEP=1 BENCH_TMPDIR=.
set -euo pipefail

BENCH_NAME=volumes
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

engines=(skiffd dockerd)
bench_numbers RUNS=20 WARMUP=2 DD_MIB=1024 DD_RUNS=3

bench_side_by_side curl flock

bench_before_stop() { bench_rm_containers --volumes "${engines[@]}"; }

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'
}

for e in "${engines[@]}"; do
    dk "$e" pull -q busybox >/dev/null || die "$e: docker pull busybox failed"
done

# 1. run --rm with a named volume.
declare -A series=([skiffd]="" [dockerd]="")
for ((i = 0; i < WARMUP + RUNS; i++)); do
    for e in "${engines[@]}"; do
        t0=${EPOCHREALTIME/./}
        dk "$e" run --rm -v benchvol:/data busybox true >/dev/null
        t1=${EPOCHREALTIME/./}
        ((i < WARMUP)) || series[$e]+=" $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')"
    done
done
run_s=$(median <<<"${series[skiffd]}")
run_d=$(median <<<"${series[dockerd]}")

# 2. dd into a volume: MB/s over the dd's own time (busybox's dd prints no
# rate), measured inside the container with /proc/uptime, fsync included.
declare -A mbps=([skiffd]="" [dockerd]="")
for ((i = 0; i < DD_RUNS; i++)); do
    for e in "${engines[@]}"; do
        # shellcheck disable=SC2016 # expanded in the container
        out=$(dk "$e" run --rm -v benchdd:/data busybox sh -c \
            'read a _ </proc/uptime; dd if=/dev/zero of=/data/f bs=1M count='"$DD_MIB"' conv=fsync 2>/dev/null; read b _ </proc/uptime; echo "$a $b"')
        read -r a b <<<"$out"
        [ -n "${b:-}" ] || die "$e: dd timing said: $out"
        mbps[$e]+=" $(awk -v m="$DD_MIB" -v a="$a" -v b="$b" 'BEGIN { printf "%.0f", m * 1048576 / (b - a) / 1e6 }')"
        dk "$e" volume rm benchdd >/dev/null
    done
done
dd_s=$(median <<<"${mbps[skiffd]}")
dd_d=$(median <<<"${mbps[dockerd]}")

printf 'volume benchmarks: skiffd vs dockerd, one run, engines interleaved\n'
printf 'skiffd %s; dockerd %s\n' "$skiffd_bin" "$(dk dockerd version --format '{{.Server.Version}}')"
printf '%-52s %10s %10s %8s\n' metric skiffd dockerd ratio
printf '%-52s %10s %10s %8s\n' "run --rm -v vol:/data busybox true, median ms" "$run_s" "$run_d" "$(ratio "$run_s" "$run_d")"
printf '%-52s %10s %10s %8s\n' "dd ${DD_MIB} MiB into a volume (fsync), median MB/s" "$dd_s" "$dd_d" "$(ratio "$dd_s" "$dd_d")"
