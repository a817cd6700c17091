#!/usr/bin/env bash
# Push benchmark: skiffd vs dockerd, side by side, in one run.
#
#   bench/push.sh                 # 5 rounds
#   ROUNDS=9 bench/push.sh
#
# Both engines first pull library/big:latest (5 layers x 20 MiB of
# /dev/urandom, gzip, schema2; built by tests/fixtures/build-images.sh) from
# a private docker-registry on 127.0.0.1 (their docker.io mirror). Each round,
# for each engine (the order alternates), a fresh empty docker-registry is
# started on 127.0.0.1 (so nothing can be found there or mounted), the image
# is tagged for it and `docker push` is timed (wall clock, CLI included);
# every push must report 5 x `Pushed`. It prints per-round times, each
# daemon's CPU time and peak RSS (VmHWM) during the push, the medians and the
# ratio skiffd/dockerd (target <= 0.50).
#
# The engines differ in what they send: dockerd keeps layers uncompressed and
# gzips each one again while pushing; skiffd sends the compressed blobs it
# pulled, byte for byte (same manifest digest as the source). Both push the
# same image; the script checks that skiffd's pushed digest is the source's.
#
# Everything runs as in bench/pull.sh (see bench/README.md): one mktemp dir,
# a network namespace of the run's own, private dockerd and containerd, all
# stopped and removed on exit.
#
# Environment: ROUNDS=5, and those of bench/lib.sh (SKIFFD=path to skip the
# release build, DOCKERD=, CONTAINERD=, DOCKER=, STORAGE_DRIVER=, KEEP=1,
# BENCH_TMPDIR=).
set -euo pipefail

BENCH_NAME=push
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_image_rounds big 5
source_digest=sha256:$(sha256sum "$tmp/manifest.json" | cut -d' ' -f1)
bench_start_skiffd
bench_start_dockerd
bench_client

for engine in skiffd dockerd; do
    dk "$engine" pull "$IMAGE" >"$tmp/pull-$engine.log" 2>&1 || {
        cat "$tmp/pull-$engine.log" >&3
        die "$engine: docker pull $IMAGE failed"
    }
done

# target_registry NAME: starts an empty docker-registry; sets target (host:port)
# and target_pid.
target_registry() {
    mkdir -p "$tmp/$1"
    bench_serve_registry "$1" "$tmp/$1/storage"
    target=$registry_addr
    target_pid=$registry_pid
}

# stop_target: stops the round's registry and removes its storage.
stop_target() {
    kill -TERM "$target_pid" 2>/dev/null || true
    wait "$target_pid" 2>/dev/null || true
    rm -rf "$tmp/$1"
}

# push ENGINE ROUND: one timed push to a fresh registry (bench_timed).
push() {
    local engine=$1 round=$2 log name got ref
    name=target-$engine-$round
    log=$tmp/push-$engine-$round.log
    target_registry "$name"
    ref=$target/bench/$IMAGE:latest
    dk "$engine" tag "$IMAGE" "$ref"
    bench_timed "$engine" "$round" "$log" "docker push $ref failed (round $round)" push "$ref"
    got=$(grep -c ': Pushed' "$log" || true)
    if [ "$got" != "$LAYERS" ]; then
        cat "$log" >&3
        die "$engine: round $round uploaded $got/$LAYERS layers (not a cold push)"
    fi
    if [ "$engine" = skiffd ] && ! grep -q "latest: digest: $source_digest " "$log"; then
        cat "$log" >&3
        die "skiffd: round $round pushed another manifest than the source's $source_digest"
    fi
    dk "$engine" rmi "$ref" >/dev/null
    stop_target "$name"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'push benchmark: library/%s (%d layers, %.1f MiB gzip blobs) to a fresh docker-registry per push\n' \
    "$IMAGE" "$LAYERS" "$(awk -v b="$blob_bytes" 'BEGIN { print b / 1048576 }')"
printf 'skiffd  %s (rev %s)\n' "$skiffd_bin" "$(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
printf 'dockerd %s, storage driver %s\n' "$(dk dockerd version --format '{{.Server.Version}}')" \
    "$(dk dockerd info --format '{{.Driver}}')"
[ -n "$driver_note" ] && printf 'NOTE: %s\n' "$driver_note"
printf 'rounds: %s, engine order alternates; host: %s cores, load %s\n\n' "$ROUNDS" "$(nproc)" "$load_before"

bench_rounds push

for engine in skiffd dockerd; do
    dk "$engine" rmi -f "$IMAGE" >/dev/null 2>&1 || true
    dk "$engine" image prune -af >/dev/null
done

bench_rounds_summary
bench_rounds_verdict
