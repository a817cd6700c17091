#!/usr/bin/env bash
# Container benchmarks: skiffd vs dockerd, side by side, in one run.
#
#   bench/containers.sh [--out FILE]     # FILE.tsv: TSV, anything else: markdown
#
# With a private skiffd (release build, skiff-shim next to it) and a private
# dockerd 20.10 (+ its own containerd, runc), both pulling busybox from a
# private docker-registry on 127.0.0.1 (the offline test fixtures), it
# measures, engines interleaved where it is a series:
#   1. `docker run --rm busybox true`: median and p90 of RUNS runs after
#      WARMUP runs (target: skiffd/dockerd <= 0.25);
#   2. idle RSS of the engine (skiffd vs dockerd + containerd) with no
#      container and with IDLE sleeping containers, plus their shims
#      (skiff-shim vs containerd-shim-runc-v2) (target <= 0.10);
#   3. `docker ps -a` with PS_CONTAINERS created containers, PS_RUNNING of
#      them running: median of PS_RUNS (target <= 0.30);
#   4. CONCURRENT `docker run -d busybox sleep 60` at once: wall time until
#      every CLI returned, and the engine's peak RSS (VmHWM, reset first).
# and prints a table (metric, skiffd, dockerd, ratio, target), also written
# to --out FILE. Everything (daemons, containers, mounts, cgroups, temp dirs)
# is removed at exit, and what an aborted earlier run left is reaped first
# (see bench/lib.sh).
#
# Environment:
#   RUNS=20 WARMUP=2 IDLE=10 PS_CONTAINERS=200 PS_RUNNING=20 PS_RUNS=10 CONCURRENT=50
#   RUN_ARGS="..."       extra `docker run`/`create` flags for both engines
#   SKIFFD=path          skiffd binary (default: cargo build --release -p skiffd -p skiff-shim)
#   SKIFFD_LOG_LEVEL=    skiffd's -l (default info; debug for a breakdown)
#   DOCKERD= CONTAINERD= DOCKER=/usr/local/bin/docker STORAGE_DRIVER= KEEP=1 BENCH_TMPDIR=
set -euo pipefail

BENCH_NAME=containers
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGE=busybox
engines=(skiffd dockerd)
read -r -a run_args <<<"${RUN_ARGS:-}"

out=""
while [ $# -gt 0 ]; do
    case $1 in
    --out)
        [ $# -ge 2 ] || die "--out needs a file"
        out=$2
        shift 2
        ;;
    --out=*)
        out=${1#--out=}
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$1' (usage: $0 [--out FILE])" ;;
    esac
done
bench_numbers RUNS=20 WARMUP=2 IDLE=10 PS_CONTAINERS=200 PS_RUNNING=20 PS_RUNS=10 CONCURRENT=50
((PS_RUNNING <= PS_CONTAINERS)) || die "PS_RUNNING ($PS_RUNNING) > PS_CONTAINERS ($PS_CONTAINERS)"
if [ -n "$out" ]; then
    case $out in /*) ;; *) out=$PWD/$out ;; esac
    touch "$out" || die "cannot write $out"
fi

bench_init curl flock xargs
bench_fixtures
bench_build_skiffd skiffd skiff-shim
[ -x "$(dirname "$skiffd_bin")/skiff-shim" ] || die "no skiff-shim next to $skiffd_bin"
bench_registry
bench_start_skiffd
bench_start_dockerd
bench_client
cpu_note=""
if ! { bench_cpu_cgroup skiffd "$skiffd_pid" && bench_cpu_cgroup dockerd "$ctr_pid" "$dockerd_pid"; }; then
    cpu_note="no cgroup for CPU accounting on this host: CPU figures read n/a"
    note "$cpu_note"
fi

# Before the daemons stop: remove every container (skiffd's outlive it, and
# dockerd would wait 10 s for each `sleep` to ignore SIGTERM).
bench_before_stop() { bench_rm_containers "${engines[@]}"; }

# ------------------------------------------------------------ helpers
# now_ms: wall clock in ms (bash's EPOCHREALTIME: no fork).
now_ms() { echo "${EPOCHREALTIME/./}" | awk '{ printf "%.3f", $1 / 1000 }'; }
elapsed_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; } # µs → ms
# p90 (nearest rank) of whitespace-separated numbers on stdin.
p90() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { i = int(NR * 0.9); if (i < NR * 0.9) i++; print v[i] }'; }
sum() { awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%.1f", s }'; }
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { n = "^[0-9]+([.][0-9]*)?$"; if (a ~ n && b ~ n && b > 0) printf "%.3f", a / b; else print "-" }'
}

# timed ENGINE ARGS...: runs `docker ARGS` against ENGINE, output discarded;
# sets ms. Fails the script if the command fails.
timed() {
    local e=$1 t0 t1
    shift
    t0=${EPOCHREALTIME/./}
    if ! dk "$e" "$@" >"$tmp/last.out" 2>&1; then
        cat "$tmp/last.out" >&3
        die "$e: docker $* failed"
    fi
    t1=${EPOCHREALTIME/./}
    ms=$(elapsed_ms "$t0" "$t1")
}

# api ENGINE MODE: one request sequence straight on the engine's socket
# (python's http.client, no CLI), printing "phase ms" lines. MODE ps: GET
# /containers/json?all=1; MODE run: create (AutoRemove) → wait?condition=
# removed (a second connection, as the CLI) → start → the wait's answer.
api() {
    python3 - "${sock[$1]}" "$2" "$IMAGE" <<'PY'
import http.client, json, socket, sys, time

path, mode, image = sys.argv[1:4]


class Conn(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost", timeout=120)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)


def call(conn, method, url, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    data = None if body is None else json.dumps(body)
    conn.request(method, "/v1.41" + url, body=data, headers=headers)
    resp = conn.getresponse()
    out = resp.read()
    if resp.status >= 300:
        sys.exit(f"{method} {url}: {resp.status} {out[:300]!r}")
    return out


def ms(a, b):
    return f"{(b - a) * 1000:.2f}"


c = Conn()
if mode == "ps":
    t0 = time.perf_counter()
    n = len(json.loads(call(c, "GET", "/containers/json?all=1")))
    t1 = time.perf_counter()
    print("ps", ms(t0, t1))
    print("count", n)
elif mode == "run":
    t0 = time.perf_counter()
    config = {"Image": image, "Cmd": ["true"], "HostConfig": {"AutoRemove": True}}
    cid = json.loads(call(c, "POST", "/containers/create", config))["Id"]
    t1 = time.perf_counter()
    w = Conn()
    w.request("POST", f"/v1.41/containers/{cid}/wait?condition=removed")
    call(c, "POST", f"/containers/{cid}/start")
    t2 = time.perf_counter()
    r = w.getresponse()
    body = r.read()
    t3 = time.perf_counter()
    if r.status != 200 or json.loads(body).get("StatusCode") != 0:
        sys.exit(f"wait {cid}: {r.status} {body[:300]!r}")
    print("create", ms(t0, t1))
    print("start", ms(t1, t2))
    print("removed", ms(t2, t3))
    print("total", ms(t0, t3))
PY
}

# shims ENGINE: pids of the engine's shims (skiff-shim / containerd-shim-runc-v2
# naming our temp dir).
shims() {
    local p comm
    for p in $(bench_pids_naming "$tmp"); do
        comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
        case $1:$comm in
        skiffd:skiff-shim | dockerd:containerd-shim*) echo "$p" ;;
        esac
    done
}
# mem_of KIND PID...: summed VmRSS (rss) or Pss (pss) in MiB.
mem_of() {
    local kind=$1 p
    shift
    for p in "$@"; do "proc_$kind" "$p" 2>/dev/null || echo 0; echo; done | sum
}
# engine_pids ENGINE: the engine's daemons (dockerd counts with its containerd).
engine_pids() { if [ "$1" = skiffd ]; then echo "$skiffd_pid"; else echo "$dockerd_pid $ctr_pid"; fi; }

# rm_all ENGINE: removes every container; sets ms (one `docker rm -f` call).
rm_all() {
    local ids
    ids=$(dk "$1" ps -aq)
    ms=0
    # shellcheck disable=SC2086
    [ -z "$ids" ] || timed "$1" rm -f $ids
    [ -z "$(dk "$1" ps -aq)" ] || die "$1: containers left after rm -f"
}

rows=() # "metric<TAB>skiffd<TAB>dockerd<TAB>ratio<TAB>target<TAB>verdict"
# row METRIC SKIFFD DOCKERD TARGET (a max ratio, or - for none)
row() {
    local r verdict=""
    r=$(ratio "$2" "$3")
    if [ "$4" != - ]; then
        verdict=$(awk -v r="$r" -v t="$4" 'BEGIN { print (r <= t) ? "met" : "NOT met" }')
    fi
    rows+=("$1	$2	$3	$r	${4/#-/}	$verdict")
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

# ------------------------------------------------------------ header
dockerd_version=$(dk dockerd version --format '{{.Server.Version}}')
dockerd_driver=$(dk dockerd info --format '{{.Driver}}')
skiffd_version=$(dk skiffd version --format '{{.Server.Version}}' 2>/dev/null || echo '?')
skiffd_rev=$(git -C "$bench_root" describe --always --dirty 2>/dev/null || echo '?')
header=$(
    printf 'container benchmarks: skiffd vs dockerd, one run, engines interleaved\n'
    printf 'skiffd  %s (%s, rev %s)\n' "$skiffd_version" "$skiffd_bin" "$skiffd_rev"
    printf 'dockerd %s, storage driver %s, containerd %s, runc %s\n' "$dockerd_version" "$dockerd_driver" \
        "$("$CONTAINERD" --version | awk '{ print $3 }')" "$(runc --version 2>/dev/null | awk 'NR == 1 { print $3 }')"
    [ -z "$driver_note" ] || printf 'NOTE: %s\n' "$driver_note"
    printf 'client  docker CLI %s; host %s cores, kernel %s, %s MiB RAM\n' \
        "$(dk dockerd version --format '{{.Client.Version}}')" "$(nproc)" "$(uname -r)" \
        "$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)"
)
echo "$header"
load_start=$(load)
echo "load average at start: $load_start"

for e in "${engines[@]}"; do
    dk "$e" pull -q "$IMAGE" >/dev/null || die "$e: docker pull $IMAGE failed"
done
id_s=$(dk skiffd image inspect --format '{{.Id}}' "$IMAGE")
id_d=$(dk dockerd image inspect --format '{{.Id}}' "$IMAGE")
[ "$id_s" = "$id_d" ] || die "busybox ids differ: skiffd $id_s dockerd $id_d"
# dockerd runs with --bridge=none (in the run's own network namespace, see
# lib.sh): its containers get no network but lo, like skiffd's.
for e in "${engines[@]}"; do
    if ! dk "$e" run --rm "${run_args[@]}" "$IMAGE" true >"$tmp/probe.out" 2>&1; then
        cat "$tmp/probe.out" >&3
        die "$e: docker run --rm ${run_args[*]} $IMAGE true failed (RUN_ARGS= adds flags for both)"
    fi
done

# ------------------------------------------------ 0. the CLI's own floor
declare -A series
for e in "${engines[@]}"; do series[$e]=""; done
for ((i = 0; i < 10; i++)); do
    for e in "${engines[@]}"; do
        timed "$e" version
        series[$e]+="$ms "
    done
done
floor_s=$(median <<<"${series[skiffd]}")
floor_d=$(median <<<"${series[dockerd]}")
row "docker version (CLI floor), median ms" "$floor_s" "$floor_d" -

# ------------------------------------------------ 1. run --rm busybox true
echo "1. docker run --rm $IMAGE true: $WARMUP warm-ups + $RUNS runs each, interleaved (load $(load))"
for ((i = 0; i < WARMUP; i++)); do
    for e in "${engines[@]}"; do timed "$e" run --rm "${run_args[@]}" "$IMAGE" true; done
done
declare -A cpu0 cpu1
for e in "${engines[@]}"; do
    series[$e]=""
    cpu0[$e]=$(bench_cpu_ms "$e")
done
for ((i = 0; i < RUNS; i++)); do
    if ((i % 2)); then order=(dockerd skiffd); else order=(skiffd dockerd); fi
    for e in "${order[@]}"; do
        timed "$e" run --rm "${run_args[@]}" "$IMAGE" true
        series[$e]+="$ms "
    done
done
for e in "${engines[@]}"; do
    cpu1[$e]=$(bench_cpu_ms "$e")
    echo "   $e ms: ${series[$e]}"
    [ -z "$(dk "$e" ps -aq)" ] || die "$e: run --rm left containers"
done
# per_run ENGINE: CPU ms per run over the series (n/a without a cgroup).
per_run() {
    awk -v a="${cpu0[$1]}" -v b="${cpu1[$1]}" -v n="$RUNS" \
        'BEGIN { if (a == "n/a" || b == "n/a" || n == 0) print "n/a"; else printf "%.1f", (b - a) / n }'
}
row "run --rm $IMAGE true, median ms" "$(median <<<"${series[skiffd]}")" "$(median <<<"${series[dockerd]}")" 0.25
row "run --rm $IMAGE true, p90 ms" "$(p90 <<<"${series[skiffd]}")" "$(p90 <<<"${series[dockerd]}")" 0.25
row "  engine CPU per run (daemons + shims + runtime), ms" "$(per_run skiffd)" "$(per_run dockerd)" -

# The same without the CLI, phase by phase (no attach).
echo "   the same through the API (no CLI, no attach): $RUNS runs each, interleaved (load $(load))"
declare -A api_create api_start api_removed api_total
for e in "${engines[@]}"; do api_create[$e]="" api_start[$e]="" api_removed[$e]="" api_total[$e]=""; done
for ((i = 0; i < RUNS; i++)); do
    if ((i % 2)); then order=(dockerd skiffd); else order=(skiffd dockerd); fi
    for e in "${order[@]}"; do
        api "$e" run >"$tmp/api.out" 2>&1 || {
            cat "$tmp/api.out" >&3
            die "$e: create/start/wait through the API failed"
        }
        while read -r phase v; do
            case $phase in
            create) api_create[$e]+="$v " ;;
            start) api_start[$e]+="$v " ;;
            removed) api_removed[$e]+="$v " ;;
            total) api_total[$e]+="$v " ;;
            esac
        done <"$tmp/api.out"
    done
done
row "  API create+start+wait(removed), median ms" "$(median <<<"${api_total[skiffd]}")" "$(median <<<"${api_total[dockerd]}")" -
row "    POST create, median ms" "$(median <<<"${api_create[skiffd]}")" "$(median <<<"${api_create[dockerd]}")" -
row "    POST start, median ms" "$(median <<<"${api_start[skiffd]}")" "$(median <<<"${api_start[dockerd]}")" -
row "    start → exited and removed, median ms" "$(median <<<"${api_removed[skiffd]}")" "$(median <<<"${api_removed[dockerd]}")" -

# ------------------------------------------------ 2. idle RSS
echo "2. idle RSS: no container, then $IDLE x run -d $IMAGE sleep 600 (load $(load))"
sleep 3
declare -A rss0 rss1 shim_rss shim_pss nshims
for e in "${engines[@]}"; do
    # shellcheck disable=SC2046
    rss0[$e]=$(mem_of rss $(engine_pids "$e"))
done
echo "   no container: skiffd $(proc_rss "$skiffd_pid") MiB; dockerd $(proc_rss "$dockerd_pid") + containerd $(proc_rss "$ctr_pid") MiB"
for e in "${engines[@]}"; do
    for ((i = 0; i < IDLE; i++)); do
        dk "$e" run -d "${run_args[@]}" "$IMAGE" sleep 600 >/dev/null || die "$e: run -d failed"
    done
    [ "$(dk "$e" ps -q | wc -l)" = "$IDLE" ] || die "$e: expected $IDLE running containers"
done
sleep 3
for e in "${engines[@]}"; do
    # shellcheck disable=SC2046
    rss1[$e]=$(mem_of rss $(engine_pids "$e"))
    mapfile -t sp < <(shims "$e")
    nshims[$e]=${#sp[@]}
    shim_rss[$e]=$(mem_of rss "${sp[@]}")
    shim_pss[$e]=$(mem_of pss "${sp[@]}")
done
echo "   $IDLE running: skiffd $(proc_rss "$skiffd_pid") MiB + ${nshims[skiffd]} skiff-shim ${shim_rss[skiffd]} MiB RSS (${shim_pss[skiffd]} MiB PSS);" \
    "dockerd $(proc_rss "$dockerd_pid") + containerd $(proc_rss "$ctr_pid") MiB + ${nshims[dockerd]} containerd-shim-runc-v2 ${shim_rss[dockerd]} MiB RSS (${shim_pss[dockerd]} MiB PSS)"
for e in "${engines[@]}"; do rm_all "$e"; done
row "idle RSS, no container: engine MiB" "${rss0[skiffd]}" "${rss0[dockerd]}" 0.10
row "idle RSS, $IDLE running: engine MiB" "${rss1[skiffd]}" "${rss1[dockerd]}" 0.10
row "  + $IDLE shims: RSS MiB (skiff-shim / containerd-shim-runc-v2)" "${shim_rss[skiffd]}" "${shim_rss[dockerd]}" -
row "  + $IDLE shims: PSS MiB" "${shim_pss[skiffd]}" "${shim_pss[dockerd]}" -
row "  engine + shims, $IDLE running: RSS MiB" \
    "$(echo "${rss1[skiffd]} ${shim_rss[skiffd]}" | sum)" "$(echo "${rss1[dockerd]} ${shim_rss[dockerd]}" | sum)" -

# ------------------------------------------------ 3. ps -a with many containers
echo "3. docker ps -a with $PS_CONTAINERS containers ($PS_RUNNING running): 1 warm-up + $PS_RUNS runs each, interleaved (load $(load))"
declare -A create_s
for e in "${engines[@]}"; do
    t0=${EPOCHREALTIME/./}
    seq "$PS_CONTAINERS" | DOCKER_HOST=unix://${sock[$e]} xargs -P 4 -I{} \
        "$DOCKER" create --name "ps-{}" "${run_args[@]}" "$IMAGE" sleep 600 >/dev/null ||
        die "$e: creating $PS_CONTAINERS containers failed"
    t1=${EPOCHREALTIME/./}
    create_s[$e]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')
    if ((PS_RUNNING > 0)); then
        # shellcheck disable=SC2046
        dk "$e" start $(seq -f 'ps-%g' "$PS_RUNNING") >/dev/null || die "$e: starting $PS_RUNNING containers failed"
    fi
    [ "$(dk "$e" ps -q | wc -l)" = "$PS_RUNNING" ] || die "$e: expected $PS_RUNNING running containers"
    timed "$e" ps -a # warm-up
    [ "$(wc -l <"$tmp/last.out")" = $((PS_CONTAINERS + 1)) ] || die "$e: ps -a listed $(($(wc -l <"$tmp/last.out") - 1)) containers"
done
declare -A api_ps
for e in "${engines[@]}"; do series[$e]="" api_ps[$e]=""; done
for ((i = 0; i < PS_RUNS; i++)); do
    if ((i % 2)); then order=(dockerd skiffd); else order=(skiffd dockerd); fi
    for e in "${order[@]}"; do
        timed "$e" ps -a
        series[$e]+="$ms "
        api "$e" ps >"$tmp/api.out" 2>&1 || {
            cat "$tmp/api.out" >&3
            die "$e: GET /containers/json failed"
        }
        [ "$(awk '$1 == "count" { print $2 }' "$tmp/api.out")" = "$PS_CONTAINERS" ] ||
            die "$e: GET /containers/json?all=1 did not list $PS_CONTAINERS containers"
        api_ps[$e]+="$(awk '$1 == "ps" { print $2 }' "$tmp/api.out") "
    done
done
declare -A rm_ps
for e in "${engines[@]}"; do
    echo "   $e ms: ${series[$e]}"
    echo "   $e API ms: ${api_ps[$e]}"
    rm_all "$e"
    rm_ps[$e]=$ms
done
row "ps -a, $PS_CONTAINERS containers ($PS_RUNNING running), median ms" \
    "$(median <<<"${series[skiffd]}")" "$(median <<<"${series[dockerd]}")" 0.30
row "  GET /containers/json?all=1 (no CLI), median ms" \
    "$(median <<<"${api_ps[skiffd]}")" "$(median <<<"${api_ps[dockerd]}")" -
row "  create $PS_CONTAINERS (4 CLIs in parallel), s" "${create_s[skiffd]}" "${create_s[dockerd]}" -
row "  rm -f $PS_CONTAINERS ($PS_RUNNING running), one CLI call, ms" "${rm_ps[skiffd]}" "${rm_ps[dockerd]}" -

# ------------------------------------------------ 4. concurrent run -d
echo "4. $CONCURRENT x docker run -d $IMAGE sleep 60, all at once (load $(load))"
declare -A conc_s conc_hwm conc_shims rm_conc conc_cpu
for e in "${engines[@]}"; do
    # shellcheck disable=SC2046
    set -- $(engine_pids "$e")
    for p in "$@"; do echo 5 >"/proc/$p/clear_refs"; done
    c0=$(bench_cpu_ms "$e")
    t0=${EPOCHREALTIME/./}
    seq "$CONCURRENT" | DOCKER_HOST=unix://${sock[$e]} xargs -P "$CONCURRENT" -I{} \
        "$DOCKER" run -d "${run_args[@]}" "$IMAGE" sleep 60 >"$tmp/conc-$e.out" 2>&1 || {
        tail -n 20 "$tmp/conc-$e.out" >&3
        die "$e: $CONCURRENT concurrent docker run -d failed"
    }
    t1=${EPOCHREALTIME/./}
    conc_s[$e]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')
    conc_cpu[$e]=$(awk -v a="$c0" -v b="$(bench_cpu_ms "$e")" \
        'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.2f", (b - a) / 1000 }')
    hwm=""
    for p in "$@"; do hwm+="$(proc_hwm "$p") "; done
    conc_hwm[$e]=$(sum <<<"$hwm")
    [ "$(dk "$e" ps -q | wc -l)" = "$CONCURRENT" ] || die "$e: expected $CONCURRENT running containers"
    mapfile -t sp < <(shims "$e")
    conc_shims[$e]=$(mem_of rss "${sp[@]}")
    echo "   $e: ${conc_s[$e]} s, CPU ${conc_cpu[$e]} s, peak RSS (VmHWM) ${hwm% } MiB, ${#sp[@]} shims ${conc_shims[$e]} MiB RSS"
    rm_all "$e"
    rm_conc[$e]=$ms
done
row "$CONCURRENT x run -d concurrently: wall s" "${conc_s[skiffd]}" "${conc_s[dockerd]}" -
row "  engine CPU (daemons + shims + runtime), s" "${conc_cpu[skiffd]}" "${conc_cpu[dockerd]}" -
row "$CONCURRENT x run -d concurrently: engine peak RSS MiB" "${conc_hwm[skiffd]}" "${conc_hwm[dockerd]}" -
row "  $CONCURRENT shims running: RSS MiB" "${conc_shims[skiffd]}" "${conc_shims[dockerd]}" -
row "  rm -f $CONCURRENT running, one CLI call, ms" "${rm_conc[skiffd]}" "${rm_conc[dockerd]}" -

# ------------------------------------------------------------ report
load_end=$(load)
echo
{
    printf '%-62s %10s %10s %7s %7s  %s\n' metric skiffd dockerd ratio target ''
    for r in "${rows[@]}"; do
        IFS=$'\t' read -r m s d q t v <<<"$r"
        printf '%-62s %10s %10s %7s %7s  %s\n' "$m" "$s" "$d" "$q" "${t:+≤ $t}" "$v"
    done
    echo "(dockerd's engine figures are dockerd + containerd; ratio = skiffd / dockerd)"
    [ -z "$cpu_note" ] || echo "NOTE: $cpu_note"
    echo "load average: start $load_start, end $load_end"
}

if [ -n "$out" ]; then
    {
        case $out in
        *.tsv)
            printf '# %s\n' "$(date -u +%FT%TZ)" "${header//$'\n'/$'\n'# }" "load average: start $load_start, end $load_end"
            printf 'metric\tskiffd\tdockerd\tratio\ttarget\tverdict\n'
            printf '%s\n' "${rows[@]}"
            ;;
        *)
            printf '%s\n\n' "$(date -u +%FT%TZ)"
            printf '    %s\n' "${header//$'\n'/$'\n'    }"
            printf '    load average: start %s, end %s\n\n' "$load_start" "$load_end"
            printf '| metric | skiffd | dockerd | ratio | target | |\n|---|---:|---:|---:|---:|---|\n'
            for r in "${rows[@]}"; do
                IFS=$'\t' read -r m s d q t v <<<"$r"
                printf '| %s | %s | %s | %s | %s | %s |\n' "$m" "$s" "$d" "$q" "${t:+≤ $t}" "$v"
            done
            ;;
        esac
    } >"$out"
    echo "results written to $out"
fi
