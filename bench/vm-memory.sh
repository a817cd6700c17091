#!/usr/bin/env bash
# Host memory of the Skiff VM (QEMU's RSS on the host), through `skiff
# machine` with the VM image: idle after boot, while a container holds
# 1 GiB, and after it exits — with virtio-balloon free page reporting the
# guest gives freed pages back, so the last figure falls back towards the
# idle one instead of staying 1 GiB up.
#
#   bench/vm-memory.sh        (as root; SKIFF_IMAGE_DIR, SKIFF_BIN override)
#
# The VM pulls busybox from a docker-registry on this host's 127.0.0.1
# (the test fixtures' registry) through its guestfwd; `--network
# restricted`: no other traffic leaves the VM. A 2 GiB machine with one
# shared folder (its memory is then a shared memfd, as in the default
# setup, where the user's home is shared).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
image=${SKIFF_IMAGE_DIR:-$target/vm-image/amd64}
skiff=${SKIFF_BIN:-$target/debug/skiff}
[ -x "$skiff" ] || (cd "$root" && cargo build -q -p skiff-machine --bin skiff)
[ -f "$image/manifest.json" ] || "$root/vm-image/build.sh" >&2
for tool in docker docker-registry python3 curl; do
    command -v "$tool" >/dev/null || { echo "vm-memory.sh: $tool not found" >&2; exit 1; }
done
# shellcheck source=tests/fixtures/registry.sh
source "$root/tests/fixtures/registry.sh"

work=$(mktemp -d /tmp/skiff-vm-memory.XXXXXX)
registry_pid=
cleanup() {
    SKIFF_HOME=$work/home "$skiff" machine rm default >/dev/null 2>&1 || true
    if [ -n "$registry_pid" ]; then
        kill "$registry_pid" 2>/dev/null || true
        wait "$registry_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap 'rc=$?; cleanup; exit $rc' EXIT

# The fixtures' registry (busybox), as the tests build it.
fixtures=$(ls -d "$target"/skiff-fixtures/*/registry 2>/dev/null | head -1)
if [ -z "$fixtures" ]; then
    bash "$root/tests/fixtures/build-images.sh" "$work/fixtures" >&2
    fixtures=$work/fixtures/registry
fi
cp -a "$fixtures" "$work/registry"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
registry_config "$work/registry" "127.0.0.1:$port" skiff-bench >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 </dev/null &
registry_pid=$!
for _ in $(seq 200); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.05; done

export SKIFF_HOME=$work/home DOCKER_CONFIG=$work/dc
mkdir -p "$work/share" "$DOCKER_CONFIG"
"$skiff" machine create --memory 2048 --registry-mirror "http://127.0.0.1:$port" \
    --image-dir "$image" --network restricted --mount "$work/share" >/dev/null
"$skiff" machine start >/dev/null 2>&1
export DOCKER_HOST=unix://$SKIFF_HOME/machines/default/docker.sock
qemu=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vm_pid"])' "$SKIFF_HOME/machines/default/run.json")
rss() { awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$qemu/status"; }
docker pull -q busybox >/dev/null
sleep 10
idle=$(rss)
# dd's 1 GiB buffer, filled from /dev/zero: every page touched.
docker run -d --name hog busybox sh -c 'dd if=/dev/zero of=/dev/null bs=1G count=1; sleep 5' >/dev/null
peak=$idle
while [ "$(docker inspect -f '{{.State.Running}}' hog)" = true ]; do
    r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
    sleep 0.5
done
docker rm -f hog >/dev/null
exited=$(rss)
after=()
for s in 5 10 20 30; do
    sleep $(( s - ${last:-0} )); last=$s
    after+=("$s s: $(rss) MiB")
done
echo "VM host memory (QEMU VmRSS), 2 GiB guest, free page reporting on"
echo "  idle after boot            $idle MiB"
echo "  peak, container holds 1 GiB $peak MiB"
echo "  at the container's exit     $exited MiB"
echo "  after exit                  ${after[*]}"
