#!/usr/bin/env bash
# Every test of Skiff, as CI runs it (as root on Debian/Ubuntu):
# dependencies, the desktop UI (type check, Vitest, build), formatting, lints,
# unit tests and the end-to-end tests that drive skiffd with the real docker
# CLI, a real registry and bollard, boot the VM image under QEMU and drive
# `skiff machine`, and run the desktop app under Xvfb.
#
#   scripts/test.sh [extra cargo test args]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/install-deps.sh"
echo "==> tauri-driver (the desktop end-to-end test drives the app through it)"
"$root/scripts/install-tauri-driver.sh"

echo "==> ui: npm ci, type check, unit tests, build (the app embeds ui/dist)"
(cd ui && npm ci --no-audit --no-fund && npm run check && npm test && npm run build)

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> building binaries"
cargo build --workspace --bins --locked

echo "==> cargo test"
cargo test --workspace --locked "$@"
