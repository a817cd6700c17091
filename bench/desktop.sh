#!/usr/bin/env bash
# Desktop app benchmark: cold start to first paint, and memory, with 100
# containers and 50 images to list.
#
#   bench/desktop.sh              # 5 rounds
#   ROUNDS=9 bench/desktop.sh
#
# Starts a private registry and skiffd (release), fills skiffd with 50 images
# (busybox pulled from the registry plus 49 tiny `docker import`s) and 100
# containers (10 running, 90 created), then launches the release app
# (`skiff-desktop`, built with `--features custom-protocol`) ROUNDS times on
# a private Xvfb. Each round measures:
#   - start → paint: from just before exec until the Containers view shows
#     all 100 rows and the next frame is painted (the app's startup probe,
#     SKIFF_DESKTOP_PROBE=100, prints `painted N rows at <unix ms>`);
#   - RSS and PSS, 3 s after the paint, of the app's process tree and of
#     each part: the app (Rust + GTK + WebKit's UI side), WebKitWebProcess
#     (the page: DOM, JavaScriptCore) and WebKitNetworkProcess. RSS counts
#     shared libraries in every process that maps them; PSS splits them;
#   - tray-only RSS and PSS: the probe then closes the window
#     (SKIFF_DESKTOP_PROBE_CLOSE, a close request as the window's button
#     makes); once the web process is gone and 3 s more, the app's tree
#     (the app hands over to skiff-tray when its window closes — the
#     same pid — so no WebKit process should be left; any is counted).
# It prints each round, the medians and the targets (start < 1.5 s,
# RSS < 120 MiB, tray-only RSS <= 40 MiB).
# Then (LARGE=1000, 0 to skip) it creates containers up to LARGE
# (`docker create` in parallel batches: no demo data) and runs LARGE_ROUNDS
# more launches, each measuring:
#   - start → paint with LARGE containers (the table lists all of them —
#     its data-count; a list that long is windowed, so only the rows near
#     the viewport are in the DOM — a row is rendered, the next frame
#     painted);
#   - the scroll: the probe (SKIFF_DESKTOP_PROBE_SCROLL=120) scrolls the
#     list from top to bottom by 120 px a frame with requestAnimationFrame
#     and reports the frame intervals (median, p95, max, frames over
#     50 ms) and the most rows the DOM held (it stops after 2 minutes:
#     the px column then says how far it got), with the median of 60
#     frames without scrolling just before (the machine's floor) and of
#     the style and layout each step costs (forced from script).
# These are figures (no target is asserted on the scroll); the load
# average is printed with them.
#
# Environment:
#   ROUNDS=5                 rounds
#   SKIFF_DESKTOP=path       app binary, skiff-tray beside it (default: cargo
#                            build --release -p skiff-desktop --features
#                            custom-protocol -p skiff-tray; needs ui/dist,
#                            i.e. `npm ci && npm run build` in ui/)
#   SKIFFD=path              skiffd binary (default: cargo build --release)
#   LARGE=1000               containers of the long-list phase (0: skip it)
#   LARGE_ROUNDS=3           launches of the long-list phase
#   WEBKIT_DISABLE_COMPOSITING_MODE=0
#                            WebKit's accelerated compositing on (the app turns
#                            it off unless the variable is set)
#   SMAPS=1                  print each process's largest mappings (round 1)
#   DROP_CACHES=1            drop the page cache before each round (root, a
#                            writable /proc/sys/vm/drop_caches): a colder start
#   KEEP=1, BENCH_TMPDIR=    as the other benchmarks (bench/lib.sh)
set -euo pipefail

BENCH_NAME=desktop
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${ROUNDS:-5}
LARGE=${LARGE:-1000}
LARGE_ROUNDS=${LARGE_ROUNDS:-3}
SCROLL_STEP_PX=120
CONTAINERS=100
RUNNING=10
IMAGES=50
START_TARGET_MS=1500
RSS_TARGET_MIB=120
TRAY_TARGET_MIB=40
# Seconds after the paint the probe closes the window (after the
# window-open measurement, taken 3 s after the paint).
CLOSE_AFTER_S=6

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
[[ $LARGE =~ ^[0-9]+$ ]] && { [ "$LARGE" = 0 ] || [ "$LARGE" -gt "$CONTAINERS" ]; } ||
    die "LARGE must be 0 or more than $CONTAINERS (got '$LARGE')"
[[ $LARGE_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "LARGE_ROUNDS must be a positive integer (got '$LARGE_ROUNDS')"
bench_init Xvfb
bench_fixtures
bench_build_skiffd skiffd skiff-shim

if [ -n "${SKIFF_DESKTOP:-}" ]; then
    app_bin=$SKIFF_DESKTOP
else
    [ -f "$bench_root/ui/dist/index.html" ] || die "ui/dist is missing: cd ui && npm ci && npm run build"
    note "cargo build --release -p skiff-desktop --features custom-protocol -p skiff-tray"
    (cd "$bench_root" && cargo build --release -q -p skiff-desktop --features custom-protocol -p skiff-tray) || die "cargo build failed"
    app_bin=$target_dir/release/skiff-desktop
fi
[ -x "$app_bin" ] || die "$app_bin is not executable"

bench_registry
bench_start_skiffd
export DOCKER_CONFIG=$tmp/docker-cli DOCKER_CLI_HINTS=false
mkdir -p "$DOCKER_CONFIG"
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
export DOCKER_HOST=unix://$skiffd_sock
dkr() { "$DOCKER" "$@"; }

# ------------------------------------------------------------ the data
note "filling skiffd: $IMAGES images, $CONTAINERS containers ($RUNNING running)"
dkr pull -q busybox >/dev/null
for i in $(seq 2 "$IMAGES"); do
    mkdir -p "$tmp/img/$i"
    echo "image $i" >"$tmp/img/$i/data.txt"
    tar -C "$tmp/img/$i" -c . | dkr import - "bench/image-$i:latest" >/dev/null
done
for i in $(seq 1 "$CONTAINERS"); do
    dkr create -q --name "bench-$i" busybox sleep 86400 >/dev/null
done
for i in $(seq 1 "$RUNNING"); do
    dkr start "bench-$i" >/dev/null
done
[ "$(dkr ps -aq | wc -l)" = "$CONTAINERS" ] || die "expected $CONTAINERS containers"
[ "$(dkr images -q | sort -u | wc -l)" = "$IMAGES" ] || die "expected $IMAGES images"

# ---------------------------------------------------------------- X server
display=""
for n in $(seq 90 189); do
    [ -e "/tmp/.X$n-lock" ] || [ -e "/tmp/.X11-unix/X$n" ] && continue
    Xvfb ":$n" -screen 0 1440x900x24 -nolisten tcp >"$tmp/xvfb.log" 2>&1 </dev/null 3>&- &
    xvfb_pid=$!
    for _ in $(seq 100); do
        [ -e "/tmp/.X11-unix/X$n" ] && break
        kill -0 "$xvfb_pid" 2>/dev/null || break
        sleep 0.05
    done
    if [ -e "/tmp/.X11-unix/X$n" ] && kill -0 "$xvfb_pid" 2>/dev/null; then
        display=:$n
        pids+=("xvfb:$xvfb_pid")
        break
    fi
done
[ -n "$display" ] || die "no free X display for Xvfb"

# tree_pids PID: PID and its descendants.
tree_pids() {
    local all
    all=$(ps -e -o pid=,ppid=)
    awk -v root="$1" '{ parent[$1] = $2 } END {
        keep[root] = 1; changed = 1
        while (changed) { changed = 0
            for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } }
        for (p in keep) print p }' <<<"$all"
}
# proc_kib FIELD PID: VmRSS (from status) or Pss (from smaps_rollup) of PID, KiB.
proc_kib() {
    local file
    if [ "$1" = Pss ]; then file=/proc/$2/smaps_rollup; else file=/proc/$2/status; fi
    awk -v f="$1:" '$1 == f { print $2 }' "$file" 2>/dev/null || true
}
# tree_kib FIELD PID [NAME]: the sum of FIELD over the tree (only the
# processes whose comm starts with NAME, when given).
tree_kib() {
    local field=$1 name=${3:-} p sum=0 v comm
    for p in $(tree_pids "$2"); do
        if [ -n "$name" ]; then
            comm=$(cat "/proc/$p/comm" 2>/dev/null || true)
            [[ $comm == "$name"* ]] || continue
        fi
        v=$(proc_kib "$field" "$p")
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# launch_app LOG ROWS [VAR=VALUE...]: starts the app on the private X
# server and skiffd with the startup probe waiting for ROWS containers
# (and VAR=VALUE added), its output to LOG; sets app (its pid) and t0
# (unix ms just before exec).
launch_app() {
    local log=$1 rows=$2
    shift 2
    : >"$log"
    t0=$(date +%s%3N)
    env DISPLAY="$display" SKIFF_DOCKER_HOST="unix://$skiffd_sock" SKIFF_HOME="$tmp/skiff-home" \
        XDG_CONFIG_HOME="$tmp/xdg/config" XDG_DATA_HOME="$tmp/xdg/data" XDG_CACHE_HOME="$tmp/xdg/cache" \
        SKIFF_DESKTOP_PROBE="$rows" NO_AT_BRIDGE=1 RUST_LOG=warn "$@" \
        "$app_bin" >>"$log" 2>&1 </dev/null 3>&- &
    app=$!
}
# wait_paint LOG ROWS WHAT: waits for the probe's paint line in LOG (up to
# 30 s) and prints the milliseconds from t0 to the paint; dies when the app
# never paints ROWS containers.
wait_paint() {
    local log=$1 want=$2 what=$3 painted="" rows
    for _ in $(seq 600); do
        painted=$(sed -n 's/^skiff-desktop: painted \([0-9]*\) rows at \([0-9]*\)$/\1 \2/p' "$log" | head -n1)
        [ -n "$painted" ] && break
        kill -0 "$app" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$painted" ]; then
        tail -n 30 "$log" >&3
        die "$what: the app never painted $want rows"
    fi
    rows=${painted% *}
    [ "$rows" -ge "$want" ] || die "$what: painted only $rows rows"
    echo $((${painted#* } - t0))
}
# stop_app: ends the app (TERM, then KILL after 5 s).
stop_app() {
    kill -TERM "$app" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$app" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$app" 2>/dev/null || true
    wait "$app" 2>/dev/null || true
    app=""
}

app=""
# Stops the app (and so WebKit's processes) when the script fails mid-round.
bench_before_stop() {
    [ -n "$app" ] || return 0
    kill -KILL "$app" 2>/dev/null || true
    wait "$app" 2>/dev/null || true
}

# ---------------------------------------------------------------- rounds
starts=() rsss=() psss=() mains=() webs=() nets=() mainps=() webps=() netps=() trays=() trayps=() traynets=()
printf '%-6s %9s %11s %11s | RSS: %9s %9s %9s | PSS: %9s %9s %9s | tray: %9s %9s\n' \
    round "paint ms" "tree RSS" "tree PSS" app web network app web network RSS PSS >&3
for r in $(seq 1 "$ROUNDS"); do
    if [ "${DROP_CACHES:-0}" = 1 ]; then
        sync
        echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || die "cannot drop caches (DROP_CACHES=1 needs a writable /proc/sys/vm/drop_caches)"
    fi
    log=$tmp/app-$r.log
    launch_app "$log" "$CONTAINERS" SKIFF_DESKTOP_PROBE_CLOSE=$CLOSE_AFTER_S
    start_ms=$(wait_paint "$log" "$CONTAINERS" "round $r")
    sleep 3
    rss=$(tree_kib VmRSS "$app")
    pss=$(tree_kib Pss "$app")
    main=$(proc_kib VmRSS "$app")
    mainp=$(proc_kib Pss "$app")
    web=$(tree_kib VmRSS "$app" WebKitWebProces)
    webp=$(tree_kib Pss "$app" WebKitWebProces)
    net=$(tree_kib VmRSS "$app" WebKitNetworkPr)
    netp=$(tree_kib Pss "$app" WebKitNetworkPr)
    if [ "${SMAPS:-0}" = 1 ] && [ "$r" = 1 ]; then
        for p in $(tree_pids "$app"); do
            echo "# $(cat "/proc/$p/comm") ($p): the 12 largest mappings by RSS (KiB)" >&3
            awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "") ? "[anon]" : $6 }
                 $1 == "Rss:" { rss[name] += $2 }
                 END { for (n in rss) printf "%9d  %s\n", rss[n], n }' "/proc/$p/smaps" 2>/dev/null |
                sort -rn | head -n 12 >&3
        done
    fi
    # Tray only: the probe closes the window; wait until the page's web
    # process is gone (the network process stays: counted, shown apart).
    closed=""
    for _ in $(seq 400); do
        grep -q '^skiff-desktop: closed the window at ' "$log" && closed=1 && break
        kill -0 "$app" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$closed" ] || die "round $r: the app never closed its window"
    for _ in $(seq 200); do
        [ "$(tree_kib VmRSS "$app" WebKitWebProces)" = 0 ] && break
        sleep 0.05
    done
    [ "$(tree_kib VmRSS "$app" WebKitWebProces)" = 0 ] || die "round $r: the web process outlived the window"
    kill -0 "$app" 2>/dev/null || die "round $r: the app quit with its window (no tray?)"
    # The app ends WebKit's network process, then hands over to skiff-tray
    # (same pid): wait for that (up to 20 s; a loaded machine is slow), so
    # the figures are the tray program's, not a moment of the hand-over.
    for _ in $(seq 400); do
        [ "$(cat "/proc/$app/comm" 2>/dev/null)" = skiff-tray ] && break
        sleep 0.05
    done
    traycomm=$(cat "/proc/$app/comm" 2>/dev/null || echo gone)
    sleep 3
    tray=$(tree_kib VmRSS "$app")
    trayp=$(tree_kib Pss "$app")
    traynet=$(tree_kib VmRSS "$app" WebKitNetworkPr)
    [ "$traycomm" = skiff-tray ] || note "round $r: the tray is held by '$traycomm', not skiff-tray (not built next to the app?)"
    stop_app
    printf '%-6s %9s %7s MiB %7s MiB | RSS: %9s %9s %9s | PSS: %9s %9s %9s | tray: %9s %9s\n' "$r" "$start_ms" \
        "$(mib "$rss")" "$(mib "$pss")" "$(mib "$main")" "$(mib "$web")" "$(mib "$net")" \
        "$(mib "$mainp")" "$(mib "$webp")" "$(mib "$netp")" "$(mib "$tray")" "$(mib "$trayp")" >&3
    starts+=("$start_ms")
    rsss+=("$(mib "$rss")")
    psss+=("$(mib "$pss")")
    mains+=("$(mib "$main")")
    webs+=("$(mib "$web")")
    nets+=("$(mib "$net")")
    mainps+=("$(mib "$mainp")")
    webps+=("$(mib "$webp")")
    netps+=("$(mib "$netp")")
    trays+=("$(mib "$tray")")
    traynets+=("$(mib "$traynet")")
    trayps+=("$(mib "$trayp")")
done

med() { echo "$@" | median; }
start_med=$(med "${starts[*]}")
rss_med=$(med "${rsss[*]}")
pss_med=$(med "${psss[*]}")
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v < t) ? "met" : "NOT met" }'; }
verdict_le() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "met" : "NOT met" }'; }
tray_med=$(med "${trays[*]}")
echo "desktop: $CONTAINERS containers, $IMAGES images, $ROUNDS rounds, app $app_bin, skiffd $(git -C "$bench_root" describe --always --dirty 2>/dev/null || echo '?')"
echo "median start to paint ${start_med} ms (target < ${START_TARGET_MS} ms: $(verdict "$start_med" "$START_TARGET_MS"))"
echo "median RSS ${rss_med} MiB for the app and its WebKit processes (app $(med "${mains[*]}"), web $(med "${webs[*]}"), network $(med "${nets[*]}")); shared libraries count once per process"
echo "median PSS ${pss_med} MiB (app $(med "${mainps[*]}"), web $(med "${webps[*]}"), network $(med "${netps[*]}")); shared pages split between processes (target < ${RSS_TARGET_MIB} MiB: RSS $(verdict "$rss_med" "$RSS_TARGET_MIB"), PSS $(verdict "$pss_med" "$RSS_TARGET_MIB"))"
echo "median tray-only RSS ${tray_med} MiB, PSS $(med "${trayps[*]}") MiB: the app with its window closed, no web process; of it WebKit's network process $(med "${traynets[*]}") MiB RSS (target <= ${TRAY_TARGET_MIB} MiB with no WebKit process: $(verdict_le "$tray_med" "$TRAY_TARGET_MIB"))"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# ------------------------------------------------------ the long list
[ "$LARGE" = 0 ] && exit 0
note "filling skiffd up to $LARGE containers (docker create, 8 at a time)"
seq $((CONTAINERS + 1)) "$LARGE" |
    xargs -P 8 -n 25 sh -c 'for i; do "$0" create -q --name "bench-$i" busybox sleep 86400 >/dev/null || exit 255; done' "$DOCKER" ||
    die "creating the containers failed"
[ "$(dkr ps -aq | wc -l)" = "$LARGE" ] || die "expected $LARGE containers"
large_starts=() medians=() p95s=() maxs=() slows=() doms=() idles=() layouts=()
printf '%-6s %9s | scroll %s px a frame: %7s %9s %8s %8s %8s %10s %9s %9s\n' \
    round "paint ms" "$SCROLL_STEP_PX" frames "median ms" "p95 ms" "max ms" ">50 ms" "DOM rows" "idle ms" "layout ms" >&3
for r in $(seq 1 "$LARGE_ROUNDS"); do
    log=$tmp/app-large-$r.log
    launch_app "$log" "$LARGE" SKIFF_DESKTOP_PROBE_SCROLL=$SCROLL_STEP_PX
    start_ms=$(wait_paint "$log" "$LARGE" "long-list round $r")
    line=""
    for _ in $(seq 3000); do
        line=$(grep -m1 '^skiff-desktop: scrolled ' "$log" || true)
        [ -n "$line" ] && break
        kill -0 "$app" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$line" ] || { tail -n 30 "$log" >&3; die "long-list round $r: the probe never finished scrolling"; }
    stop_app
    # skiff-desktop: scrolled <px> px in <frames> frames: median <m> ms, p95 <p> ms, max <x> ms, <s> over 50 ms,
    # at most <d> rows in the DOM; idle frames <i> ms, style and layout <l> ms a step (medians)
    read -r px frames median p95 max slow dom idle layout < <(sed -E 's/^skiff-desktop: scrolled ([0-9.]+) px in ([0-9]+) frames: median ([0-9.]+) ms, p95 ([0-9.]+) ms, max ([0-9.]+) ms, ([0-9]+) over 50 ms, at most ([0-9]+) rows in the DOM; idle frames ([0-9.]+) ms, style and layout ([0-9.]+) ms a step \(medians\)$/\1 \2 \3 \4 \5 \6 \7 \8 \9/' <<<"$line")
    [ -n "$layout" ] || die "long-list round $r: unreadable probe line: $line"
    printf '%-6s %9s | %-26s %7s %9s %8s %8s %8s %10s %9s %9s\n' "$r" "$start_ms" "(${px} px)" "$frames" "$median" "$p95" "$max" "$slow" "$dom" "$idle" "$layout" >&3
    large_starts+=("$start_ms") medians+=("$median") p95s+=("$p95") maxs+=("$max") slows+=("$slow") doms+=("$dom") idles+=("$idle") layouts+=("$layout")
done
echo "long list: $LARGE containers, $LARGE_ROUNDS rounds: median start to paint $(med "${large_starts[*]}") ms;" \
    "scrolling the whole list $SCROLL_STEP_PX px a frame: median frame $(med "${medians[*]}") ms, p95 $(med "${p95s[*]}") ms," \
    "max $(med "${maxs[*]}") ms, $(med "${slows[*]}") frames over 50 ms, at most $(med "${doms[*]}") rows in the DOM;" \
    "idle frames $(med "${idles[*]}") ms, style and layout $(med "${layouts[*]}") ms a step (medians of the rounds)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
