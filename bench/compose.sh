#!/usr/bin/env bash
# Compose benchmarks: skiffd vs dockerd, side by side, in one run.
#
#   bench/compose.sh
#
# With a private skiffd and a private dockerd 20.10 (+ its own containerd),
# both pulling busybox from a private docker-registry on 127.0.0.1 (the
# offline test fixtures; see bench/lib.sh for the namespaces, data roots and
# cleanup), it measures:
#   1. the sample project of tests/fixtures/compose/ (web, a built api, a
#      db with a healthcheck, an init job): `docker compose up -d --wait`
#      from cold (images present: busybox pulled and the api built first,
#      no container, network or volume) and `docker compose down -v`,
#      ROUNDS rounds, engines alternating; median wall times and ratios;
#   2. HEALTHY containers (`run -d --health-cmd true --health-interval 1s
#      busybox sleep`), one engine at a time: once every one is healthy,
#      the engine's CPU % over WINDOW seconds (its daemons, shims and
#      runtime: a CPU-accounting cgroup of the run, see lib.sh; the probes'
#      processes run in the containers' cgroups and are not counted) and
#      its RSS (skiffd; dockerd + containerd; plus the shims).
# The db waits 1 s before it reports healthy, on both engines: `up --wait`
# cannot be shorter.
#
# Environment:
#   ROUNDS=5 HEALTHY=300 WINDOW=30
#   SKIFFD=path          skiffd binary (default: cargo build --release -p skiffd -p skiff-shim)
#   COMPOSE_V2=          the plugin (default: the docker CLI's `docker compose`)
#   DOCKERD= CONTAINERD= DOCKER=/usr/local/bin/docker STORAGE_DRIVER= KEEP=1 BENCH_TMPDIR=
set -euo pipefail

BENCH_NAME=compose
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

engines=(skiffd dockerd)
bench_numbers ROUNDS=5 HEALTHY=300 WINDOW=30
((ROUNDS > 0)) || die "ROUNDS must be positive"

bench_init curl xargs
bench_fixtures
bench_build_skiffd skiffd skiff-shim
[ -x "$(dirname "$skiffd_bin")/skiff-shim" ] || die "no skiff-shim next to $skiffd_bin"
bench_registry
bench_start_skiffd
bench_start_dockerd
bench_client
"$DOCKER" compose version >/dev/null 2>&1 || die "no docker compose (scripts/install-compose.sh)"
cpu_note=""
if ! { bench_cpu_cgroup skiffd "$skiffd_pid" && bench_cpu_cgroup dockerd "$ctr_pid" "$dockerd_pid"; }; then
    cpu_note="no cgroup for CPU accounting on this host: CPU figures read n/a"
    note "$cpu_note"
fi

project_file=$bench_root/tests/fixtures/compose/compose.yaml
# Compose's legacy builder (no buildx here).
export DOCKER_BUILDKIT=0
# Each engine its own published port (both live in the run's namespace).
declare -A web_port=([skiffd]=18080 [dockerd]=18081)

# compose ENGINE ARGS...: `docker compose` on the sample project.
compose() {
    local e=$1
    shift
    WEB_PORT=${web_port[$e]} dk "$e" compose -f "$project_file" -p bench "$@"
}

bench_before_stop() {
    local e
    for e in "${engines[@]}"; do
        [ -S "${sock[$e]:-/nonexistent}" ] || continue
        timeout 120 env WEB_PORT=${web_port[$e]} DOCKER_HOST="unix://${sock[$e]}" \
            "$DOCKER" compose -f "$project_file" -p bench down -v -t 1 >/dev/null 2>&1 || true
    done
    bench_rm_containers --volumes "${engines[@]}"
}

now_us() { echo "${EPOCHREALTIME/./}"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'; }
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { n = "^[0-9]+([.][0-9]*)?$"; if (a ~ n && b ~ n && b > 0) printf "%.2f", a / b; else print "-" }'
}
sum() { awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%.1f", s }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
engine_pids() { if [ "$1" = skiffd ]; then echo "$skiffd_pid"; else echo "$dockerd_pid $ctr_pid"; fi; }
shims() {
    local p comm
    for p in $(bench_pids_naming "$tmp"); do
        comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
        case $1:$comm in
        skiffd:skiff-shim | dockerd:containerd-shim*) echo "$p" ;;
        esac
    done
}
mem_rss() {
    local p
    for p in "$@"; do proc_rss "$p" 2>/dev/null || echo 0; echo; done | sum
}

rows=()
row() { rows+=("$1	$2	$3	$(ratio "$2" "$3")"); }

echo "compose benchmarks: skiffd ($skiffd_bin) vs dockerd $(dk dockerd version --format '{{.Server.Version}}'), $(dk skiffd compose version --short) ; host $(nproc) cores"
load_start=$(load)

# ------------------------------------------------ 1. up --wait / down -v
for e in "${engines[@]}"; do
    dk "$e" pull -q busybox >/dev/null || die "$e: pull busybox failed"
    compose "$e" build >"$tmp/build-$e.log" 2>&1 || {
        tail -n 20 "$tmp/build-$e.log" >&3
        die "$e: compose build failed"
    }
done
echo "1. compose up -d --wait (cold, images present) and down -v: $ROUNDS rounds, engines alternating (load $(load))"
declare -A up down
for e in "${engines[@]}"; do up[$e]="" down[$e]=""; done
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order=(skiffd dockerd); else order=(dockerd skiffd); fi
    for e in "${order[@]}"; do
        t0=$(now_us)
        compose "$e" up -d --wait >"$tmp/up-$e.log" 2>&1 || {
            tail -n 20 "$tmp/up-$e.log" >&3
            die "$e: compose up failed"
        }
        t1=$(now_us)
        compose "$e" down -v >"$tmp/down-$e.log" 2>&1 || {
            tail -n 20 "$tmp/down-$e.log" >&3
            die "$e: compose down failed"
        }
        t2=$(now_us)
        [ -z "$(dk "$e" ps -aq)" ] || die "$e: containers left after down -v"
        up[$e]+="$(secs "$t0" "$t1") "
        down[$e]+="$(secs "$t1" "$t2") "
    done
done
for e in "${engines[@]}"; do echo "   $e up s: ${up[$e]} down s: ${down[$e]}"; done
row "compose up -d --wait (cold), median s" "$(median <<<"${up[skiffd]}")" "$(median <<<"${up[dockerd]}")"
row "compose down -v, median s" "$(median <<<"${down[skiffd]}")" "$(median <<<"${down[dockerd]}")"

# ------------------------------------------------ 2. idle healthchecked containers
declare -A hcpu hrss hshim
echo "2. $HEALTHY x run -d --health-cmd true --health-interval 1s, one engine at a time (load $(load))"
for e in "${engines[@]}"; do
    t0=$(now_us)
    seq "$HEALTHY" | DOCKER_HOST=unix://${sock[$e]} xargs -P 4 -I{} \
        "$DOCKER" run -d --health-cmd true --health-interval 1s busybox sleep 3600 >"$tmp/health-$e.out" 2>&1 || {
        tail -n 20 "$tmp/health-$e.out" >&3
        die "$e: starting $HEALTHY healthchecked containers failed"
    }
    t1=$(now_us)
    for _ in $(seq 300); do
        [ "$(dk "$e" ps -q --filter health=healthy | wc -l)" = "$HEALTHY" ] && break
        sleep 1
    done
    [ "$(dk "$e" ps -q --filter health=healthy | wc -l)" = "$HEALTHY" ] || die "$e: not all $HEALTHY containers healthy after 300 s"
    sleep 5
    c0=$(bench_cpu_ms "$e")
    w0=$(now_us)
    sleep "$WINDOW"
    c1=$(bench_cpu_ms "$e")
    w1=$(now_us)
    cpu=$(awk -v a="$c0" -v b="$c1" -v w0="$w0" -v w1="$w1" \
        'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.1f", (b - a) * 1000 / (w1 - w0) * 100 }')
    # shellcheck disable=SC2046
    rss=$(mem_rss $(engine_pids "$e"))
    mapfile -t sp < <(shims "$e")
    srss=$(mem_rss "${sp[@]}")
    probes=$(dk "$e" inspect --format '{{len .State.Health.Log}}' "$(dk "$e" ps -q | head -n1)")
    echo "   $e: started in $(secs "$t0" "$t1") s; CPU ${cpu}% of one core over ${WINDOW}s; engine RSS ${rss} MiB; ${#sp[@]} shims ${srss} MiB RSS; $probes probes logged on the first"
    hcpu[$e]=$cpu hrss[$e]=$rss hshim[$e]=$srss
    bench_rm_containers "$e"
done
row "$HEALTHY healthy idle containers (1 s probes): engine CPU %" "${hcpu[skiffd]}" "${hcpu[dockerd]}"
row "  engine RSS MiB (dockerd: + containerd)" "${hrss[skiffd]}" "${hrss[dockerd]}"
row "  shims RSS MiB" "${hshim[skiffd]}" "${hshim[dockerd]}"

# ------------------------------------------------------------ report
echo
printf '%-62s %10s %10s %7s\n' metric skiffd dockerd ratio
for r in "${rows[@]}"; do
    IFS=$'\t' read -r m s d q <<<"$r"
    printf '%-62s %10s %10s %7s\n' "$m" "$s" "$d" "$q"
done
echo "(ratio = skiffd / dockerd)"
[ -z "$cpu_note" ] || echo "NOTE: $cpu_note"
echo "load average: start $load_start, end $(load)"
