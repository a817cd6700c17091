#!/usr/bin/env bash
# Throughput and per-request latency of the engine socket forwarded from the
# Skiff VM (skiff-relay over a virtio-serial port), and of the relay alone.
#
#   bench/socket.sh [--relay-only] [MIB]
#
# 1. The relay alone: both halves in one process over a socketpair with a
#    minimal engine (what the relay costs without the VM).
# 2. Through a real machine under QEMU (TCG unless KVM really works):
#    /_ping round trips on docker.sock, 64 connections open at once,
#    `docker import` of a MIB-MiB
#    incompressible tarball (host → VM) and `docker save` of it (VM → host).
# Needs the VM image (vm-image/build.sh). Prints figures; asserts nothing
# about speed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
relay_only=0
if [ "${1:-}" = "--relay-only" ]; then relay_only=1; shift; fi
mib=${1:-256}
target=${CARGO_TARGET_DIR:-$root/target}

echo "==> building (release)"
cargo build -q --release -p skiff-machine --bin skiff
cargo build -q --release -p skiff-relay --example relay_bench
bench=$target/release/examples/relay_bench
skiff=$target/release/skiff

echo "==> the relay alone (socketpair, 1024 MiB each way, 2000 pings)"
"$bench" local 1024 2000

[ "$relay_only" = 1 ] && exit 0

image_dir=${SKIFF_IMAGE_DIR:-$root/target/vm-image/amd64}
if [ ! -f "$image_dir/manifest.json" ]; then
    echo "==> building the VM image"
    "$root/vm-image/build.sh"
fi

work=$(mktemp -d /tmp/skiff-bench.XXXXXX)
export SKIFF_HOME=$work/home DOCKER_CONFIG=$work/docker SKIFF_BIN=$skiff
cleanup() {
    "$skiff" machine rm >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "==> starting a machine"
"$skiff" machine create --cpus 2 --memory 2048 --disk 16 --image-dir "$image_dir" >/dev/null
start=$(date +%s.%N)
"$skiff" machine start 2>/dev/null
end=$(date +%s.%N)
accel=$(sed -n 's/.*"accel": "\([a-z]*\)".*/\1/p' "$SKIFF_HOME/machines/default/run.json")
printf 'skiff machine start (launch → /_ping answers on docker.sock): %.1f s (%s)\n' "$(echo "$end - $start" | bc)" "$accel"
"$skiff" machine stop >/dev/null
start=$(date +%s.%N)
"$skiff" machine start 2>/dev/null
end=$(date +%s.%N)
printf 'skiff machine start again (data disk formatted already): %.1f s\n' "$(echo "$end - $start" | bc)"
sock=$SKIFF_HOME/machines/default/docker.sock
export DOCKER_HOST=unix://$sock

echo "==> /_ping through the VM (500 round trips, new connection each)"
"$bench" ping "$sock" 500

echo "==> 64 concurrent connections through the VM (all open before any answer)"
"$bench" concurrent "$sock" 64

echo "==> bulk transfer through the VM ($mib MiB, incompressible)"
mkdir -p "$work/rootfs"
head -c "${mib}M" /dev/urandom >"$work/rootfs/blob"
tar -C "$work/rootfs" -cf "$work/big.tar" .
start=$(date +%s.%N)
docker import "$work/big.tar" skiff-bench:big >/dev/null
end=$(date +%s.%N)
printf 'docker import (host → VM): %.0f MiB/s (%.1f s)\n' \
    "$(echo "$mib / ($end - $start)" | bc -l)" "$(echo "$end - $start" | bc)"
start=$(date +%s.%N)
bytes=$(docker save skiff-bench:big | wc -c)
end=$(date +%s.%N)
printf 'docker save (VM → host): %.0f MiB/s (%.1f s, %d bytes)\n' \
    "$(echo "$bytes / 1048576 / ($end - $start)" | bc -l)" "$(echo "$end - $start" | bc)" "$bytes"
