#!/usr/bin/env bash
# Installs the Rust virtiofsd (crates.io, pinned) at
# /usr/local/libexec/virtiofsd, where `skiff machine` looks for it
# (machine/src/qemu/virtiofs.rs). Debian bookworm ships only QEMU's C
# virtiofsd, which runs only as root and translates no ids; the Rust one
# runs as the user who runs skiff and maps a container's files to that
# user on the host. Idempotent: does nothing when that version is there.
#
#   scripts/install-virtiofsd.sh
#
# Needs libseccomp-dev and libcap-ng-dev (scripts/deps/machine.apt).
# Environment: VIRTIOFSD_VERSION (default 1.14.0), VIRTIOFSD_DIR (default
# /usr/local/libexec; another directory needs SKIFF_VIRTIOFSD=<dir>/virtiofsd
# for skiff to use it). A cold install compiles ~110 crates: 1 min 23 s of
# CPU (measured 2026-12-08; 9 min 48 s wall on 2 cores under a load of 15),
# once per machine.
set -euo pipefail

version=${VIRTIOFSD_VERSION:-1.14.0}
dir=${VIRTIOFSD_DIR:-/usr/local/libexec}
bin=$dir/virtiofsd

if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "virtiofsd $version" ]; then
    echo "virtiofsd $version: already installed at $bin"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "==> cargo install virtiofsd@$version --locked (into $bin)"
started=$SECONDS
CARGO_TARGET_DIR=$tmp/target cargo install virtiofsd --version "=$version" --locked \
    --root "$tmp/root" --quiet
# Built as the caller; installed with sudo when the directory is not theirs.
sudo=()
if ! { mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ]; }; then
    sudo=(sudo)
fi
"${sudo[@]}" mkdir -p "$dir"
"${sudo[@]}" install -m 0755 "$tmp/root/bin/virtiofsd" "$bin.tmp"
"${sudo[@]}" mv "$bin.tmp" "$bin"
echo "virtiofsd $version: installed at $bin in $((SECONDS - started)) s"
