#!/usr/bin/env bash
# Pull benchmark: skiffd vs dockerd, side by side, in one run.
#
#   bench/pull.sh                 # 5 rounds
#   ROUNDS=9 bench/pull.sh
#
# Pulls library/big:latest (5 layers x 20 MiB of /dev/urandom, gzip, schema2;
# built by tests/fixtures/build-images.sh) from a private docker-registry on
# 127.0.0.1 (as the docker.io mirror) with a private skiffd and a private
# dockerd, alternating which engine goes first, and prints per-round wall
# times, the medians and the ratio skiffd/dockerd (target <= 0.50), plus each
# daemon's CPU time and peak RSS (VmHWM) during the pulls.
#
# Everything it starts (registry, skiffd, containerd, dockerd) lives under one
# mktemp dir and is stopped and removed on exit, failure included. No system
# docker state is used: dockerd gets its own socket, data-root, exec-root,
# pidfile, config file, key file, cgroup parent and its own containerd. The
# registry and the daemons run in a network namespace of the run's own
# (loopback only), so nothing touches the host's links or firewall rules.
#
# Environment:
#   ROUNDS=5             rounds (each pulls once per engine)
#   SKIFFD=path          skiffd binary to use (default: cargo build --release -p skiffd)
#   SKIFFD_LOG_LEVEL=    skiffd's -l (default info); the log is kept with KEEP=1
#   DOCKERD=dockerd      dockerd binary;  CONTAINERD=containerd
#   DOCKER=/usr/local/bin/docker   the docker CLI used for both engines
#   STORAGE_DRIVER=      force dockerd's storage driver (default: overlay2,
#                        falling back to fuse-overlayfs then vfs if it refuses)
#   KEEP=1               keep the logs (the temp dir minus images) instead of
#                        removing everything at exit
#   BENCH_TMPDIR=/tmp    where the temp dir goes (keep it short: unix sockets)
set -euo pipefail

BENCH_NAME=pull
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_image_rounds big 5
bench_start_skiffd
bench_start_dockerd
bench_client

dockerd_version=$(dk dockerd version --format '{{.Server.Version}}')
dockerd_driver=$(dk dockerd info --format '{{.Driver}}')
dockerd_backing=$(dk dockerd info --format '{{range .DriverStatus}}{{index . 0}}={{index . 1}} {{end}}')
skiffd_version=$(dk skiffd version --format '{{.Server.Version}}' 2>/dev/null || echo '?')
skiffd_rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')

# reset ENGINE: remove the image and everything it pulled; verify.
reset() {
    local engine=$1
    dk "$engine" rmi -f "$IMAGE" >/dev/null 2>&1 || true
    dk "$engine" image prune -af >/dev/null
    [ -z "$(dk "$engine" images -q "$IMAGE")" ] || die "$engine: $IMAGE still listed after rmi + prune"
    [ -z "$(dk "$engine" images -qa)" ] || die "$engine: images left after prune: $(dk "$engine" images -qa | tr '\n' ' ')"
}

# pull ENGINE ROUND: one timed pull (bench_timed) of a removed image.
pull() {
    local engine=$1 round=$2 log got
    log=$tmp/pull-$engine-$round.log
    reset "$engine"
    bench_timed "$engine" "$round" "$log" "docker pull $IMAGE failed (round $round)" pull "$IMAGE"
    # It must have downloaded every layer, not reused anything.
    got=$(grep -c 'Download complete' "$log" || true)
    if [ "$got" != "$LAYERS" ] || grep -q 'Already exists' "$log"; then
        cat "$log" >&3
        die "$engine: round $round downloaded $got/$LAYERS layers (not a cold pull)"
    fi
    ids[$engine]=$(dk "$engine" image inspect --format '{{.Id}}' "$IMAGE")
}

declare -A ids
rss_start_s=$(proc_rss "$skiffd_pid")
rss_start_d=$(proc_rss "$dockerd_pid")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'pull benchmark: docker.io/library/%s (%d layers, %.1f MiB gzip blobs) from docker-registry %s\n' \
    "$IMAGE" "$LAYERS" "$(awk -v b="$blob_bytes" 'BEGIN { print b / 1048576 }')" "$mirror"
printf 'skiffd  %s (%s, rev %s)\n' "$skiffd_version" "$skiffd_bin" "$skiffd_rev"
printf 'dockerd %s, storage driver %s (%s), containerd %s\n' "$dockerd_version" "$dockerd_driver" \
    "${dockerd_backing% }" "$("$CONTAINERD" --version | awk '{ print $3 }')"
[ -n "$driver_note" ] && printf 'NOTE: %s\n' "$driver_note"
printf 'client  docker CLI %s; rounds: %s, engine order alternates; host: %s cores, kernel %s, load %s\n\n' \
    "$(dk dockerd version --format '{{.Client.Version}}')" "$ROUNDS" "$(nproc)" "$(uname -r)" "$load_before"

# same_ids ROUND: both engines pulled the same image.
same_ids() {
    [ "${ids[skiffd]}" = "${ids[dockerd]}" ] || die "image ids differ: skiffd ${ids[skiffd]} dockerd ${ids[dockerd]}"
}
bench_rounds pull same_ids

# The last pulled image stays: clean it up so the daemons stop with nothing.
for engine in skiffd dockerd; do reset "$engine"; done

bench_rounds_summary
printf 'throughput (median): skiffd %.0f MiB/s  dockerd %.0f MiB/s  (compressed bytes)\n' \
    "$(awk -v b="$blob_bytes" -v s="$ms" 'BEGIN { print b / 1048576 / s }')" \
    "$(awk -v b="$blob_bytes" -v s="$md" 'BEGIN { print b / 1048576 / s }')"
printf 'RSS: peak during a pull (VmHWM, max over rounds) skiffd %s MiB  dockerd %s MiB;  idle before -> after the run: skiffd %s -> %s MiB  dockerd %s -> %s MiB\n' \
    "$hs" "$hd" "$rss_start_s" "$(proc_rss "$skiffd_pid")" "$rss_start_d" "$(proc_rss "$dockerd_pid")"
bench_rounds_verdict
