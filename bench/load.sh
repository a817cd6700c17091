#!/usr/bin/env bash
# Load: skiffd vs dockerd, one after the other in one run (issue 19 §3).
#
#   bench/load.sh
#   CLIENTS=256 SECONDS_=60 SETTLE=60 bench/load.sh
#
# With a private skiffd and a private dockerd 20.10 (+ its own containerd),
# both with busybox from the fixtures' registry (see bench/lib.sh: their own
# network namespace, temp dir, cleanup), `skiff-load` (tests/src/load.rs)
# runs CLIENTS concurrent clients for SECONDS_ s against each engine: pings,
# container and image lists, inspects, execs, create/start/stop/rm, with
# every 16th client following a container's logs (`logs -f`) and every 16th
# subscribed to `/events`. Per engine it prints requests/s, p50/p99 latency
# (overall and per operation), errors (target 0), the daemon's RSS, its
# anonymous part (RssAnon: heap and stacks, where a leak shows; the rest is
# mostly the binary's pages) and open fds before (after one warm-up round
# of every operation) / at the peak during / SETTLE s after the load (back
# to the baseline: no leak) and CPU per request — of the daemon's processes
# (skiffd; dockerd + containerd) from /proc, and of the engine's whole
# CPU-accounting cgroup (shims and runtimes included) — then a summary
# table.
#
# With VM=1 (the default when the VM image and `skiff` are there) the same
# load also runs through the Skiff VM: `skiff up` (a private SKIFF_HOME in
# the run's temp dir, `--network restricted`, the run's registry as its
# mirror) and skiff-load on the machine's forwarded docker.sock — every
# request crosses the relay (yamux over virtio-serial) to the skiffd in the
# guest. Its daemon figures are QEMU's and the supervisor's (the VM's
# whole footprint on the host; the supervisor runs the relay's host half). QEMU runs under KVM when the probe guest runs, else TCG (software
# emulation, far slower): the accelerator is printed with the figures.
#
# Environment:
#   CLIENTS=256 SECONDS_=60 SETTLE=60
#   VM=1 SKIFF_BIN=path SKIFF_IMAGE_DIR=path VM_CPUS=2 VM_MEMORY=2048
#   SKIFF_LOAD=path      the load client (default: cargo build -p skiff-e2e --bin skiff-load)
#   SKIFFD=path          skiffd binary (default: cargo build --release -p skiffd -p skiff-shim)
#   SKIFFD_LOG_LEVEL= DOCKERD= CONTAINERD= DOCKER= STORAGE_DRIVER= KEEP=1 BENCH_TMPDIR=
set -euo pipefail

BENCH_NAME=load
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

engines=(skiffd dockerd)
bench_numbers CLIENTS=256 SECONDS_=60 SETTLE=60
vm_skiff=${SKIFF_BIN:-$target_dir/debug/skiff}
vm_image=${SKIFF_IMAGE_DIR:-$target_dir/vm-image/amd64}
if [ -z "${VM:-}" ]; then
    VM=0
    [ -f "$vm_image/manifest.json" ] && VM=1
fi
if [ "$VM" = 1 ]; then
    [ -f "$vm_image/manifest.json" ] || die "VM=1: no VM image in $vm_image (vm-image/build.sh)"
    if [ ! -x "$vm_skiff" ]; then
        (cd "$bench_root" && cargo build -q -p skiff-machine --bin skiff) || die "cargo build skiff failed"
    fi
else
    note "no VM leg (VM=0, or no VM image in $vm_image)"
fi

if [ -n "${SKIFF_LOAD:-}" ]; then
    load_bin=$SKIFF_LOAD
else
    note "cargo build -p skiff-e2e --bin skiff-load"
    (cd "$bench_root" && cargo build -q -p skiff-e2e --bin skiff-load) || die "cargo build failed"
    load_bin=$target_dir/debug/skiff-load
fi
[ -x "$load_bin" ] || die "$load_bin is not executable"

bench_side_by_side curl
[ -x "$(dirname "$skiffd_bin")/skiff-shim" ] || die "no skiff-shim next to $skiffd_bin"
cpu_ok=1
if ! { bench_cpu_cgroup skiffd "$skiffd_pid" && bench_cpu_cgroup dockerd "$ctr_pid" "$dockerd_pid"; }; then
    cpu_ok=0
    note "no cgroup for CPU accounting on this host: the cgroup CPU column reads n/a"
fi
bench_before_stop() {
    bench_rm_containers skiffd dockerd
    if [ "$VM" = 1 ]; then
        SKIFF_HOME=$tmp/skiff-home "$vm_skiff" machine rm default >/dev/null 2>&1 || true
    fi
}

if [ "$VM" = 1 ]; then
    # The supervisor and QEMU run in the run's network namespace, where the
    # registry is: the guest reaches it through QEMU's guestfwd.
    note "skiff up (VM image $vm_image)"
    mkdir -p "$tmp/skiff-home"
    in_netns env SKIFF_HOME="$tmp/skiff-home" DOCKER_CONFIG="$DOCKER_CONFIG" "$vm_skiff" up \
        --cpus "${VM_CPUS:-2}" --memory "${VM_MEMORY:-2048}" --registry-mirror "$mirror" \
        --image-dir "$vm_image" --network restricted --mount none >"$tmp/skiff-up.log" 2>&1 ||
        { cat "$tmp/skiff-up.log" >&3; die "skiff up failed"; }
    vm_run=$tmp/skiff-home/machines/default/run.json
    vm_pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vm_pid"])' "$vm_run")
    vm_sup=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["supervisor_pid"])' "$vm_run")
    vm_accel=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("accel","?"))' "$vm_run")
    sock[skiffd-vm]=$tmp/skiff-home/machines/default/docker.sock
    engines+=(skiffd-vm)
    note "the VM runs under ${vm_accel^^} (QEMU pid $vm_pid)"
fi
for e in "${engines[@]}"; do
    dk "$e" pull -q busybox >/dev/null || die "$e: docker pull busybox failed"
done
# The client opens a connection per request and holds CLIENTS streams.
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

declare -A summary cgcpu
for e in "${engines[@]}"; do
    case $e in
    skiffd) measured=(--pid "$skiffd_pid") ;;
    dockerd) measured=(--pid "$dockerd_pid" --pid "$ctr_pid") ;;
    skiffd-vm) measured=(--pid "$vm_pid" --pid "$vm_sup") ;;
    esac
    note "load: $e, $CLIENTS clients × ${SECONDS_} s, then ${SETTLE} s to settle (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    c0=$(bench_cpu_ms "$e")
    set +e
    "$load_bin" --socket "${sock[$e]}" "${measured[@]}" --clients "$CLIENTS" \
        --seconds "$SECONDS_" --settle "$SETTLE" >"$tmp/load-$e.txt" 2>&1
    rc=$?
    set -e
    c1=$(bench_cpu_ms "$e")
    echo "== $e (exit $rc)"
    grep -v '^json: ' "$tmp/load-$e.txt" || true
    [ "$rc" -le 1 ] || die "$e: the load client could not set up (see above)"
    summary[$e]=$(sed -n 's/^json: //p' "$tmp/load-$e.txt")
    if [ "$cpu_ok" = 1 ] && [ "$e" != skiffd-vm ]; then
        cgcpu[$e]=$(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print("%.2f" % ((float(sys.argv[3])-float(sys.argv[2]))/max(j["requests"],1)))' \
            "${summary[$e]}" "$c0" "$c1")
    else
        cgcpu[$e]=n/a
    fi
    echo
done

printf 'load average after: %s\n\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "${summary[skiffd]}" "${summary[dockerd]}" "${cgcpu[skiffd]}" "${cgcpu[dockerd]}" \
    "${summary[skiffd-vm]:-}" "${vm_accel:-}" <<'PY'
import json, sys
s, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])
cg = {"skiffd": sys.argv[3], "dockerd": sys.argv[4]}
def mib(k): return "%.1f" % (k / 1024)
rows = [
    ("requests/s", "%.1f" % s["rps"], "%.1f" % d["rps"]),
    ("requests", s["requests"], d["requests"]),
    ("errors (target 0)", s["errors"], d["errors"]),
    ("p50 ms", "%.1f" % s["p50_ms"], "%.1f" % d["p50_ms"]),
    ("p99 ms", "%.1f" % s["p99_ms"], "%.1f" % d["p99_ms"]),
    ("RSS MiB before/peak/after", "/".join(mib(x) for x in s["rss_kib"]), "/".join(mib(x) for x in d["rss_kib"])),
    ("anon RSS MiB before/peak/after", "/".join(mib(x) for x in s["anon_kib"]), "/".join(mib(x) for x in d["anon_kib"])),
    ("fds before/peak/after", "/".join(map(str, s["fds"])), "/".join(map(str, d["fds"]))),
    ("daemon CPU ms/request", "%.2f" % s["cpu_ms_per_request"], "%.2f" % d["cpu_ms_per_request"]),
    ("engine cgroup CPU ms/request", cg["skiffd"], cg["dockerd"]),
]
print("%-30s %22s %22s" % ("metric", "skiffd", "dockerd (+containerd)"))
for name, a, b in rows:
    print("%-30s %22s %22s" % (name, a, b))
if sys.argv[5]:
    v = json.loads(sys.argv[5])
    print()
    print("through the VM (skiff up's docker.sock, QEMU %s; daemon figures are QEMU's + the supervisor's):" % sys.argv[6].upper())
    print("  %.1f requests/s, %d requests, %d errors, p50 %.1f ms, p99 %.1f ms, QEMU RSS MiB %s (anonymous %s), fds %s, QEMU CPU %.2f ms/request"
          % (v["rps"], v["requests"], v["errors"], v["p50_ms"], v["p99_ms"],
             "/".join(mib(x) for x in v["rss_kib"]), "/".join(mib(x) for x in v["anon_kib"]),
             "/".join(map(str, v["fds"])), v["cpu_ms_per_request"]))
    print("  native skiffd / through the VM: requests/s ratio %.2f" % (s["rps"] / max(v["rps"], 1e-9)))
PY
