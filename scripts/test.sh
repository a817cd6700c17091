#!/usr/bin/env bash
# Every test of Skiff, as CI runs it (as root on Debian/Ubuntu):
# dependencies, formatting, lints, unit tests and the end-to-end tests that
# drive skiffd with the real docker CLI, a real registry and bollard.
#
#   scripts/test.sh [extra cargo test args]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/install-deps.sh"

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> building binaries"
cargo build --workspace --bins --locked

echo "==> cargo test"
cargo test --workspace --locked "$@"
