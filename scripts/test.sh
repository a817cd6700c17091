#!/usr/bin/env bash
# Every test of Skiff, as CI runs it (as root on Debian/Ubuntu):
# dependencies, the desktop UI (type check, Vitest, build), formatting, lints,
# unit tests and the end-to-end tests that drive skiffd with the real docker
# CLI, a real registry and bollard, boot the VM image under QEMU and drive
# `skiff machine`, and run the desktop app under Xvfb.
#
#   scripts/test.sh [extra cargo test args]
#
# Without arguments the test binaries run three at a time
# (scripts/run-tests.py; SKIFF_TEST_JOBS=N to change), and the VM image —
# a release build with fat LTO, the costliest step — builds in the
# background from the start, beside the UI, lints and debug builds; the VM
# test waits for it. With arguments, plain `cargo test` gets them.
#
# Once the dependencies are installed, everything else runs under the
# host-state guard (scripts/host-guard.sh): the host's links, addresses,
# routes, nftables/iptables rules, mounts, cgroups, network namespaces,
# listening sockets, files under /tmp and /run and processes are compared
# before and after, and what the tests changed is printed. The snapshot is
# taken after the package installs on purpose (docker.io's postinst may start
# a system dockerd that creates docker0). SKIFF_HOST_GUARD=fail makes a
# change fail the run (the default when $CI is set), =report only prints it
# (the default elsewhere: on a workstation other programs change the host
# too), =off skips the guard.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [ "${SKIFF_HOST_GUARD_INNER:-0}" != 1 ]; then
    "$root/scripts/install-deps.sh"
    echo "==> tauri-driver (the desktop end-to-end test drives the app through it)"
    "$root/scripts/install-tauri-driver.sh"

    case ${CI:-} in "" | false | 0) default_guard=report ;; *) default_guard=fail ;; esac
    guard=${SKIFF_HOST_GUARD:-$default_guard}
    case $guard in
    fail | report)
        flags=()
        [ "$guard" = report ] && flags=(--report-only)
        echo "==> host-state guard (scripts/host-guard.sh, SKIFF_HOST_GUARD=$guard)"
        "$root/scripts/host-guard.sh" selftest
        export SKIFF_HOST_GUARD_INNER=1
        exec "$root/scripts/host-guard.sh" run "${flags[@]}" -- "$root/scripts/test.sh" "$@"
        ;;
    off) ;;
    *)
        echo "test.sh: SKIFF_HOST_GUARD must be fail, report or off (got '$guard')" >&2
        exit 2
        ;;
    esac
fi

vm_status=
vm_pid=
# A step that fails ends the run: the background build goes with it (its
# own session, so its cargo and compressors are one process group).
stop_vm_build() {
    if [ -n "$vm_pid" ]; then
        kill -- "-$vm_pid" 2>/dev/null || true
        wait "$vm_pid" 2>/dev/null || true
    fi
}
trap stop_vm_build EXIT
if [ $# -eq 0 ]; then
    mkdir -p target
    vm_status=$root/target/vm-image-build.status
    rm -f "$vm_status"
    echo "==> VM image: vm-image/build.sh in the background (log: target/vm-image-build.log)"
    # With the WSL rootfs: the image skiff-init's tests ask for too.
    setsid bash -c 'rc=0; "$1" "${@:4}" >"$2" 2>&1 || rc=$?; echo "$rc" >"$3"' _ \
        "$root/vm-image/build.sh" "$root/target/vm-image-build.log" "$vm_status" --wsl-rootfs &
    vm_pid=$!
fi

echo "==> ui: npm ci, type check, unit tests, build (the app embeds ui/dist)"
(cd ui && npm ci --no-audit --no-fund && npm run check && npm test && npm run build)

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> building binaries"
cargo build --workspace --bins --locked

if [ $# -eq 0 ]; then
    echo "==> tests (scripts/run-tests.py)"
    status=0
    "$root/scripts/run-tests.py" --wait-vm-image "$vm_status" || status=$?
    [ "$status" = 0 ] || exit "$status"
else
    echo "==> cargo test $*"
    cargo test --workspace --locked --no-fail-fast "$@"
fi

# 10 targets, 2 at a time, 24 s each: the 2 minutes of runs the 8 targets
# had at 30 s.
echo "==> fuzzing (scripts/fuzz.sh: every target 24 s, 2 at a time, after a release build of its own)"
FUZZ_SECONDS=${FUZZ_SECONDS:-24} "$root/scripts/fuzz.sh"
