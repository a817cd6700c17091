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
source_digest=sha256:$(sha256sum "$tmp/manifest.json" | cut -d' ' -f1)
blob_bytes=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(l["size"] for l in m["layers"]))' "$tmp/manifest.json")
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
    local name=$1 port
    port=$(free_port)
    target=127.0.0.1:$port
    mkdir -p "$tmp/$name"
    cat >"$tmp/$name.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/$name/storage
http:
  addr: $target
  secret: skiff-bench
EOF
    "${netns_exec[@]}" docker-registry serve "$tmp/$name.yml" >"$tmp/$name.log" 2>&1 </dev/null 3>&- &
    target_pid=$!
    pids+=("$name:$target_pid")
    for _ in $(seq 200); do
        in_netns curl -fsS "http://$target/v2/" >/dev/null 2>&1 && return 0
        kill -0 "$target_pid" 2>/dev/null || break
        sleep 0.05
    done
    fail_with_log "$name" "$tmp/$name.log"
}

# stop_target: stops the round's registry and removes its storage.
stop_target() {
    kill -TERM "$target_pid" 2>/dev/null || true
    wait "$target_pid" 2>/dev/null || true
    rm -rf "$tmp/$1"
}

# push ENGINE ROUND: one timed push to a fresh registry; sets secs, cpu, hwm.
push() {
    local engine=$1 round=$2 p=${pid[$1]} log name t0 t1 c0 c1 got ref
    name=target-$engine-$round
    log=$tmp/push-$engine-$round.log
    target_registry "$name"
    ref=$target/bench/$IMAGE:latest
    dk "$engine" tag "$IMAGE" "$ref"
    echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true
    c0=$(proc_cpu "$p")
    t0=$(date +%s.%N)
    if ! dk "$engine" push "$ref" >"$log" 2>&1; then
        cat "$log" >&3
        die "$engine: docker push $ref failed (round $round)"
    fi
    t1=$(date +%s.%N)
    c1=$(proc_cpu "$p")
    hwm=$(proc_hwm "$p")
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
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

declare -A times cpus hwms
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'push benchmark: library/%s (%d layers, %.1f MiB gzip blobs) to a fresh docker-registry per push\n' \
    "$IMAGE" "$LAYERS" "$(awk -v b="$blob_bytes" 'BEGIN { print b / 1048576 }')"
printf 'skiffd  %s (rev %s)\n' "$skiffd_bin" "$(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
printf 'dockerd %s, storage driver %s\n' "$(dk dockerd version --format '{{.Server.Version}}')" \
    "$(dk dockerd info --format '{{.Driver}}')"
[ -n "$driver_note" ] && printf 'NOTE: %s\n' "$driver_note"
printf 'rounds: %s, engine order alternates; host: %s cores, load %s\n\n' "$ROUNDS" "$(nproc)" "$load_before"

printf '%-5s  %-7s  %9s %8s %9s  %9s %8s %9s  %6s\n' round first 'skiffd s' 'cpu s' 'peak MiB' \
    'dockerd s' 'cpu s' 'peak MiB' ratio
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order=(skiffd dockerd); else order=(dockerd skiffd); fi
    for engine in "${order[@]}"; do
        push "$engine" "$r"
        times[$engine,$r]=$secs
        cpus[$engine,$r]=$cpu
        hwms[$engine,$r]=$hwm
    done
    printf '%-5s  %-7s  %9.2f %8s %9s  %9.2f %8s %9s  %6.2f\n' "$r" "${order[0]}" \
        "${times[skiffd,$r]}" "${cpus[skiffd,$r]}" "${hwms[skiffd,$r]}" \
        "${times[dockerd,$r]}" "${cpus[dockerd,$r]}" "${hwms[dockerd,$r]}" \
        "$(awk -v a="${times[skiffd,$r]}" -v b="${times[dockerd,$r]}" 'BEGIN { print a / b }')"
done

for engine in skiffd dockerd; do
    dk "$engine" rmi -f "$IMAGE" >/dev/null 2>&1 || true
    dk "$engine" image prune -af >/dev/null
done

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
printf 'load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 0.5) ? "met" : "NOT met" }')
printf 'median skiffd %.2fs  dockerd %.2fs  ratio %s (target ≤ 0.50: %s)\n' "$ms" "$md" "$ratio" "$verdict"
