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

ROUNDS=${ROUNDS:-5}
IMAGE=big
LAYERS=5

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
bench_init curl
root=$bench_root
bench_fixtures
bench_build_skiffd skiffd
bench_registry
in_netns curl -fsS "$mirror/v2/library/$IMAGE/manifests/latest" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >"$tmp/manifest.json" 2>/dev/null ||
    fail_with_log registry "$tmp/registry.log"
blob_bytes=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(l["size"] for l in m["layers"]))' "$tmp/manifest.json")
nlayers=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["layers"]))' "$tmp/manifest.json")
[ "$nlayers" = "$LAYERS" ] || die "library/$IMAGE has $nlayers layers, expected $LAYERS"
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

# pull ENGINE ROUND: one timed pull; sets secs, cpu, hwm.
pull() {
    local engine=$1 round=$2 p=${pid[$1]} log t0 t1 c0 c1 got
    log=$tmp/pull-$engine-$round.log
    # Peak RSS of this pull only: clear_refs 5 resets VmHWM to the current RSS.
    echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true
    c0=$(proc_cpu "$p")
    t0=$(date +%s.%N)
    if ! dk "$engine" pull "$IMAGE" >"$log" 2>&1; then
        cat "$log" >&3
        die "$engine: docker pull $IMAGE failed (round $round)"
    fi
    t1=$(date +%s.%N)
    c1=$(proc_cpu "$p")
    hwm=$(proc_hwm "$p")
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
    # It must have downloaded every layer, not reused anything.
    got=$(grep -c 'Download complete' "$log" || true)
    if [ "$got" != "$LAYERS" ] || grep -q 'Already exists' "$log"; then
        cat "$log" >&3
        die "$engine: round $round downloaded $got/$LAYERS layers (not a cold pull)"
    fi
    ids[$engine]=$(dk "$engine" image inspect --format '{{.Id}}' "$IMAGE")
}

declare -A ids
declare -A times cpus hwms
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

printf '%-5s  %-7s  %9s %8s %9s  %9s %8s %9s  %6s\n' round first 'skiffd s' 'cpu s' 'peak MiB' \
    'dockerd s' 'cpu s' 'peak MiB' ratio
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order=(skiffd dockerd); else order=(dockerd skiffd); fi
    for engine in "${order[@]}"; do
        reset "$engine"
        pull "$engine" "$r"
        times[$engine,$r]=$secs
        cpus[$engine,$r]=$cpu
        hwms[$engine,$r]=$hwm
    done
    [ "${ids[skiffd]}" = "${ids[dockerd]}" ] || die "image ids differ: skiffd ${ids[skiffd]} dockerd ${ids[dockerd]}"
    printf '%-5s  %-7s  %9.2f %8s %9s  %9.2f %8s %9s  %6.2f\n' "$r" "${order[0]}" \
        "${times[skiffd,$r]}" "${cpus[skiffd,$r]}" "${hwms[skiffd,$r]}" \
        "${times[dockerd,$r]}" "${cpus[dockerd,$r]}" "${hwms[dockerd,$r]}" \
        "$(awk -v a="${times[skiffd,$r]}" -v b="${times[dockerd,$r]}" 'BEGIN { print a / b }')"
done

# The last pulled image stays: clean it up so the daemons stop with nothing.
for engine in skiffd dockerd; do reset "$engine"; done

col() { # col ARRAY ENGINE
    local -n arr=$1
    local r out=""
    for ((r = 1; r <= ROUNDS; r++)); do out+="${arr[$2,$r]} "; done
    echo "$out"
}
ms=$(col times skiffd | median)
md=$(col times dockerd | median)
cs=$(col cpus skiffd | median)
cd_=$(col cpus dockerd | median)
hs=$(col hwms skiffd | max)
hd=$(col hwms dockerd | max)
ratio=$(awk -v a="$ms" -v b="$md" 'BEGIN { printf "%.2f", a / b }')
printf '%-5s  %-7s  %9.2f %8.2f %9s  %9.2f %8.2f %9s  %6.2f\n' median '' "$ms" "$cs" "max $hs" "$md" "$cd_" "max $hd" "$ratio"
echo
printf 'throughput (median): skiffd %.0f MiB/s  dockerd %.0f MiB/s  (compressed bytes)\n' \
    "$(awk -v b="$blob_bytes" -v s="$ms" 'BEGIN { print b / 1048576 / s }')" \
    "$(awk -v b="$blob_bytes" -v s="$md" 'BEGIN { print b / 1048576 / s }')"
printf 'RSS: peak during a pull (VmHWM, max over rounds) skiffd %s MiB  dockerd %s MiB;  idle before -> after the run: skiffd %s -> %s MiB  dockerd %s -> %s MiB\n' \
    "$hs" "$hd" "$rss_start_s" "$(proc_rss "$skiffd_pid")" "$rss_start_d" "$(proc_rss "$dockerd_pid")"
printf 'load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 0.5) ? "met" : "NOT met" }')
printf 'median skiffd %.2fs  dockerd %.2fs  ratio %s (target ≤ 0.50: %s)\n' "$ms" "$md" "$ratio" "$verdict"
