# shellcheck shell=bash
# The Skiff VM for the bench scripts that measure through it (vm-ports.sh,
# vm-share.sh): sourced after lib.sh and bench_init, not run.
#
#   bench_vm_start [--mount DIR]   # -> sock[vm], vm_pid (QEMU), vm_accel; `dk vm ARGS...`
#
# The machine lives under the run's temp dir ($tmp/vm-home: SKIFF_HOME), so
# lib.sh's cleanup reaps whatever a failed run leaves (QEMU, the supervisor,
# virtiofsd name that dir); bench_vm_stop (call it from bench_before_stop)
# removes it first, cleanly. `skiff machine` runs in the run's network
# namespace: the ports the VM publishes are forwarded to *that* loopback,
# QEMU's guestfwd reaches the run's registry there, and nothing touches the
# host's own network. `--network restricted`: no traffic leaves the VM but
# to the registry. The VM image is target/vm-image/amd64 (built if missing)
# or SKIFF_IMAGE_DIR; `skiff` is target/debug/skiff or SKIFF_BIN.
#
# Environment: VM_CPUS=2 VM_MEMORY=2048 (MiB) VM_DISK=8 (GiB).

bench_vm_start() {
    local mount=(--mount none) image skiff
    if [ "${1:-}" = --mount ]; then
        mount=(--mount "$2")
        shift 2
    fi
    image=${SKIFF_IMAGE_DIR:-$target_dir/vm-image/amd64}
    skiff=${SKIFF_BIN:-$target_dir/debug/skiff}
    [ -x "$skiff" ] || (cd "$bench_root" && cargo build -q -p skiff-machine --bin skiff) || die "cargo build skiff failed"
    [ -f "$image/manifest.json" ] || "$bench_root/vm-image/build.sh" >&2 || die "vm-image/build.sh failed"
    vm_skiff=$skiff
    vm_home=$tmp/vm-home
    mkdir -p "$vm_home"
    vm_skiff_cmd machine create --cpus "${VM_CPUS:-2}" --memory "${VM_MEMORY:-2048}" --disk "${VM_DISK:-8}" \
        --registry-mirror "$mirror" --image-dir "$image" --network restricted "${mount[@]}" >/dev/null ||
        die "skiff machine create failed"
    vm_skiff_cmd machine start >"$tmp/vm-start.log" 2>&1 || {
        tail -n 30 "$vm_home/machines/default/console.log" >&3 2>/dev/null
        fail_with_log "skiff machine start" "$tmp/vm-start.log"
    }
    sock[vm]=$vm_home/machines/default/docker.sock
    vm_pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vm_pid"])' "$vm_home/machines/default/run.json")
    vm_accel=tcg
    grep -q -- '-accel kvm' "/proc/$vm_pid/cmdline" 2>/dev/null && vm_accel=kvm
    tr '\0' ' ' <"/proc/$vm_pid/cmdline" | grep -q 'accel kvm' && vm_accel=kvm
    note "VM up ($vm_accel): $(grep -m1 -o 'engine ready after [0-9]* ms' "$vm_home/machines/default/console.log" || true)"
}

# vm_skiff_cmd ARGS...: `skiff ARGS` on the run's machine, in the run's
# network namespace.
vm_skiff_cmd() {
    in_netns env SKIFF_HOME="$vm_home" DOCKER_CONFIG="$DOCKER_CONFIG" SKIFF_BIN="$vm_skiff" "$vm_skiff" "$@" 3>&-
}

# bench_vm_stop: stops and removes the run's machine (for bench_before_stop).
bench_vm_stop() {
    [ -n "${vm_home:-}" ] && [ -d "$vm_home/machines/default" ] || return 0
    timeout 120 env SKIFF_HOME="$vm_home" "$vm_skiff" machine rm default >/dev/null 2>&1 || true
}
