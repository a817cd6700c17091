#!/usr/bin/env bash
# Build benchmark: skiffd vs dockerd's legacy builder (DOCKER_BUILDKIT=0),
# side by side, in one run.
#
#   bench/build.sh                # 3 rounds
#   ROUNDS=5 bench/build.sh
#
# A 10-step Dockerfile on busybox (RUNs writing files, ENV/WORKDIR/LABEL/
# CMD, a COPY of a 50 MiB context file) is built by a private skiffd and a
# private dockerd, alternating which engine goes first: per round one cold
# build (image and build cache removed first, `--no-cache`) and one fully
# cached rebuild (every step must print `Using cache`). Prints per-round
# wall times, the medians and the ratios skiffd/dockerd (target <= 0.50 for
# both).
#
# Everything it starts lives under one mktemp dir and is stopped and removed
# on exit (see bench/lib.sh); the registry and the daemons run in a network
# namespace of the run's own.
#
# Environment: ROUNDS=3, SKIFFD=path (default: cargo build --release -p
# skiffd), and bench/lib.sh's (DOCKERD, CONTAINERD, DOCKER, KEEP, …).
set -euo pipefail

BENCH_NAME=build
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${ROUNDS:-3}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
bench_init curl
root=$bench_root
bench_fixtures
bench_build_skiffd skiffd
bench_registry
bench_start_skiffd
bench_start_dockerd
bench_client
export DOCKER_BUILDKIT=0

ctx=$tmp/context
mkdir -p "$ctx"
head -c $((50 * 1024 * 1024)) /dev/urandom >"$ctx/big.bin"
cat >"$ctx/Dockerfile" <<'EOF'
FROM busybox
RUN dd if=/dev/zero of=/zeros bs=1M count=5 2>/dev/null
COPY big.bin /data/big.bin
RUN echo one > /one
ENV MODE=bench
RUN for i in $(seq 200); do echo $i > /tmp/f$i; done
WORKDIR /work
RUN echo "$MODE" > mode && ls /data
LABEL bench=build
CMD ["cat", "/work/mode"]
EOF
steps=$(grep -c . "$ctx/Dockerfile")

for engine in skiffd dockerd; do
    dk "$engine" pull -q busybox >/dev/null || die "$engine: pull busybox failed"
done

# reset ENGINE: no image and no build cache left from an earlier build.
reset() {
    dk "$1" rmi -f bench-build >/dev/null 2>&1 || true
    dk "$1" image prune -f >/dev/null
    dk "$1" builder prune -af >/dev/null 2>&1 || true
}

# timed ENGINE LOG ARGS...: one build; sets secs.
timed() {
    local engine=$1 log=$2 t0 t1
    shift 2
    t0=$(date +%s.%N)
    if ! dk "$engine" build -t bench-build "$@" "$ctx" >"$log" 2>&1; then
        cat "$log" >&3
        die "$engine: docker build failed"
    fi
    t1=$(date +%s.%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

declare -A cold warm
printf 'build benchmark: %d-step Dockerfile, 50 MiB COPY; skiffd %s, dockerd %s (legacy builder)\n\n' \
    "$steps" "$skiffd_bin" "$(dk dockerd version --format '{{.Server.Version}}')"
printf '%-5s  %-7s  %10s %10s  %10s %10s\n' round first 'skiffd cold' 'cached' 'dockerd cold' 'cached'
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order=(skiffd dockerd); else order=(dockerd skiffd); fi
    for engine in "${order[@]}"; do
        reset "$engine"
        timed "$engine" "$tmp/cold-$engine-$r.log" --no-cache
        cold[$engine,$r]=$secs
        timed "$engine" "$tmp/warm-$engine-$r.log"
        warm[$engine,$r]=$secs
        if grep -q 'Running in' "$tmp/warm-$engine-$r.log"; then
            cat "$tmp/warm-$engine-$r.log" >&3
            die "$engine: the rebuild ran a step (round $r)"
        fi
    done
    printf '%-5s  %-7s  %10.2f %10.2f  %10.2f %10.2f\n' "$r" "${order[0]}" \
        "${cold[skiffd,$r]}" "${warm[skiffd,$r]}" "${cold[dockerd,$r]}" "${warm[dockerd,$r]}"
done
for engine in skiffd dockerd; do reset "$engine"; done

col() { # col ARRAY ENGINE
    local -n arr=$1
    local r out=""
    for ((r = 1; r <= ROUNDS; r++)); do out+="${arr[$2,$r]} "; done
    echo "$out"
}
cs=$(col cold skiffd | median)
cd_=$(col cold dockerd | median)
ws=$(col warm skiffd | median)
wd=$(col warm dockerd | median)
rc=$(awk -v a="$cs" -v b="$cd_" 'BEGIN { printf "%.2f", a / b }')
rw=$(awk -v a="$ws" -v b="$wd" 'BEGIN { printf "%.2f", a / b }')
verdict() { awk -v r="$1" 'BEGIN { print (r <= 0.5) ? "met" : "NOT met" }'; }
printf '%-5s  %-7s  %10.2f %10.2f  %10.2f %10.2f\n\n' median '' "$cs" "$ws" "$cd_" "$wd"
printf 'cold build: skiffd %.2fs dockerd %.2fs ratio %s (target ≤ 0.50: %s)\n' "$cs" "$cd_" "$rc" "$(verdict "$rc")"
printf 'cached rebuild: skiffd %.2fs dockerd %.2fs ratio %s (target ≤ 0.50: %s)\n' "$ws" "$wd" "$rw" "$(verdict "$rw")"
