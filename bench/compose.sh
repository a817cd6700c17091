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
#   2. HEALTHY containers with a 1 s healthcheck (`create --network none
#      --health-cmd true --health-interval 1s busybox sleep`, then started
#      BATCH at a time, each batch healthy before the next: both engines
#      start them at a pace their probes leave room for; past HEALTH_WAIT
#      s no more are started), one engine at a time: once they are
#      healthy, over WINDOW seconds, the engine's
#      CPU % (its daemons, shims and runtime: a CPU-accounting cgroup of
#      the run, see lib.sh; the probes' own processes run in the
#      containers' cgroups and are not counted), the probes it ran
#      (`exec_die` events followed through the window) and so its CPU ms
#      per probe, and its RSS and PSS (skiffd; dockerd + containerd; then
#      the shims: every skiff-shim / containerd-shim* process of the run,
#      summed the same way for both).
# The db waits 1 s before it reports healthy, on both engines: `up --wait`
# cannot be shorter.
#
# Environment:
#   ROUNDS=5 HEALTHY=300 WINDOW=30 BATCH=20 HEALTH_WAIT=1800 (s, per engine)
#   PHASES="up health"   which parts to run
#   ENGINES="skiffd dockerd"  (one alone: to profile it; no ratios then)
#   SKIFFD=path          skiffd binary (default: cargo build --release -p skiffd -p skiff-shim)
#   COMPOSE_V2=          the plugin (default: the docker CLI's `docker compose`)
#   DOCKERD= CONTAINERD= DOCKER=/usr/local/bin/docker STORAGE_DRIVER= KEEP=1 BENCH_TMPDIR=
set -euo pipefail

BENCH_NAME=compose
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

read -ra engines <<<"${ENGINES:-skiffd dockerd}"
has_engine() { [[ " ${engines[*]} " == *" $1 "* ]]; }
bench_numbers ROUNDS=5 HEALTHY=300 WINDOW=30 BATCH=20 HEALTH_WAIT=1800
PHASES=${PHASES:-up health}
phase() { [[ " $PHASES " == *" $1 "* ]]; }
((BATCH > 0)) || die "BATCH must be positive"
((ROUNDS > 0)) || die "ROUNDS must be positive"

bench_init curl xargs
bench_fixtures
bench_build_skiffd skiffd skiff-shim
[ -x "$(dirname "$skiffd_bin")/skiff-shim" ] || die "no skiff-shim next to $skiffd_bin"
bench_registry
bench_start_skiffd
if has_engine dockerd; then bench_start_dockerd; else dockerd_sock=/nonexistent dockerd_pid="" ctr_pid=""; fi
bench_client
"$DOCKER" compose version >/dev/null 2>&1 || die "no docker compose (scripts/install-compose.sh)"
cpu_note=""
if ! { bench_cpu_cgroup skiffd "$skiffd_pid" && { ! has_engine dockerd || bench_cpu_cgroup dockerd "$ctr_pid" "$dockerd_pid"; }; }; then
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
mem_pss() {
    local p
    for p in "$@"; do proc_pss "$p" 2>/dev/null || echo 0; echo; done | sum
}

rows=()
row() { rows+=("$1	$2	$3	$(ratio "$2" "$3")"); }

echo "compose benchmarks: skiffd ($skiffd_bin) vs dockerd $(has_engine dockerd && dk dockerd version --format '{{.Server.Version}}'), $(dk skiffd compose version --short) ; host $(nproc) cores"
load_start=$(load)

# ------------------------------------------------ 1. up --wait / down -v
if phase up; then
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
        order=("${engines[@]}")
        ((r % 2)) || order=("${order[@]:1}" "${order[0]}")
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
    row "compose up -d --wait (cold), median s" "$(median <<<"${up[skiffd]:-}")" "$(median <<<"${up[dockerd]:-}")"
    row "compose down -v, median s" "$(median <<<"${down[skiffd]:-}")" "$(median <<<"${down[dockerd]:-}")"
fi

# ------------------------------------------------ 2. idle healthchecked containers
# healthy_count ENGINE: how many of its containers report healthy.
healthy_count() { dk "$1" ps -q --filter health=healthy | wc -l; }

# start_healthchecked ENGINE: creates HEALTHY containers, starts them BATCH
# at a time, each batch healthy before the next; past HEALTH_WAIT s it
# starts no more (the figures then say how many were healthy).
start_healthchecked() {
    local e=$1 deadline ids n=0 batch
    deadline=$((SECONDS + HEALTH_WAIT))
    seq "$HEALTHY" | DOCKER_HOST=unix://${sock[$e]} xargs -P 4 -I{} \
        "$DOCKER" create --network none --health-cmd true --health-interval 1s busybox sleep 3600 \
        >"$tmp/health-$e.ids" 2>"$tmp/health-$e.err" || {
        tail -n 20 "$tmp/health-$e.err" >&3
        die "$e: creating $HEALTHY healthchecked containers failed"
    }
    mapfile -t ids <"$tmp/health-$e.ids"
    ((${#ids[@]} == HEALTHY)) || die "$e: created ${#ids[@]} containers of $HEALTHY"
    while ((n < HEALTHY)); do
        batch=("${ids[@]:n:BATCH}")
        dk "$e" start "${batch[@]}" >/dev/null 2>>"$tmp/health-$e.err" || {
            tail -n 20 "$tmp/health-$e.err" >&3
            die "$e: starting containers $n.. failed"
        }
        n=$((n + ${#batch[@]}))
        until (($(healthy_count "$e") >= n)); do
            if ((SECONDS >= deadline)); then
                note "$e: $(healthy_count "$e") of $n started containers healthy after ${HEALTH_WAIT} s: measuring those"
                return 0
            fi
            sleep 1
        done
    done
}

if phase health; then
    declare -A hcpu hrate hper hrss hpss hshim hspss hcount hhealthy
    echo "2. $HEALTHY x create --network none --health-cmd true --health-interval 1s, started $BATCH at a time, one engine at a time (load $(load))"
    for e in "${engines[@]}"; do
        t0=$(now_us)
        start_healthchecked "$e"
        t1=$(now_us)
        sleep 5
        # Every probe publishes exec_die (both engines): follow them through the window.
        DOCKER_HOST=unix://${sock[$e]} timeout "$((WINDOW + 2))" "$DOCKER" events \
            --filter type=container --filter event=exec_die --format '{{.Action}}' >"$tmp/probes-$e" 2>/dev/null &
        follower=$!
        sleep 1
        note "$e: measuring over ${WINDOW}s (load $(load))"
        c0=$(bench_cpu_ms "$e")
        w0=$(now_us)
        n0=$(wc -l <"$tmp/probes-$e")
        sleep "$WINDOW"
        c1=$(bench_cpu_ms "$e")
        w1=$(now_us)
        n1=$(wc -l <"$tmp/probes-$e")
        wait "$follower" 2>/dev/null || true
        cpu=$(awk -v a="$c0" -v b="$c1" -v w0="$w0" -v w1="$w1" \
            'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.1f", (b - a) * 1000 / (w1 - w0) * 100 }')
        rate=$(awk -v n="$((n1 - n0))" -v w0="$w0" -v w1="$w1" 'BEGIN { printf "%.1f", n * 1e6 / (w1 - w0) }')
        per=$(awk -v a="$c0" -v b="$c1" -v n="$((n1 - n0))" \
            'BEGIN { if (a == "n/a" || b == "n/a" || n == 0) print "n/a"; else printf "%.2f", (b - a) / n }')
        # shellcheck disable=SC2046
        rss=$(mem_rss $(engine_pids "$e"))
        # shellcheck disable=SC2046
        pss=$(mem_pss $(engine_pids "$e"))
        healthy=$(healthy_count "$e")
        mapfile -t sp < <(shims "$e")
        srss=$(mem_rss "${sp[@]}")
        spss=$(mem_pss "${sp[@]}")
        echo "   $e: $healthy healthy, started in $(secs "$t0" "$t1") s; CPU ${cpu}% of one core over ${WINDOW}s; $rate probes/s, ${per} CPU ms per probe; engine RSS ${rss} MiB (PSS ${pss}); ${#sp[@]} shims ${srss} MiB RSS (PSS ${spss}) (load $(load))"
        hcpu[$e]=$cpu hrate[$e]=$rate hper[$e]=$per hrss[$e]=$rss hpss[$e]=$pss hshim[$e]=$srss hspss[$e]=$spss hcount[$e]=${#sp[@]} hhealthy[$e]=$healthy
        ids=$(dk "$e" ps -aq)
        # shellcheck disable=SC2086
        [ -z "$ids" ] || printf '%s\n' $ids | DOCKER_HOST=unix://${sock[$e]} timeout 900 xargs -n 50 "$DOCKER" rm -f >/dev/null 2>&1 || true
    done
    row "idle containers with 1 s probes, healthy (of $HEALTHY)" "${hhealthy[skiffd]:-}" "${hhealthy[dockerd]:-}"
    row "  engine CPU % of one core" "${hcpu[skiffd]:-}" "${hcpu[dockerd]:-}"
    row "  probes run per second" "${hrate[skiffd]:-}" "${hrate[dockerd]:-}"
    row "  engine CPU ms per probe" "${hper[skiffd]:-}" "${hper[dockerd]:-}"
    row "  engine RSS MiB (dockerd: + containerd)" "${hrss[skiffd]:-}" "${hrss[dockerd]:-}"
    row "  engine PSS MiB" "${hpss[skiffd]:-}" "${hpss[dockerd]:-}"
    row "  shims (skiff-shim / containerd-shim*)" "${hcount[skiffd]:-}" "${hcount[dockerd]:-}"
    row "  shims RSS MiB" "${hshim[skiffd]:-}" "${hshim[dockerd]:-}"
    row "  shims PSS MiB" "${hspss[skiffd]:-}" "${hspss[dockerd]:-}"
fi

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
