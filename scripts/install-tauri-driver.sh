#!/usr/bin/env bash
# Installs tauri-driver (crates.io), the WebDriver front the desktop
# end-to-end test (tests/desktop) puts before WebKitWebDriver (Debian's
# webkit2gtk-driver, scripts/deps/desktop.apt). Idempotent: does nothing
# when that version is already installed in $CARGO_HOME/bin.
#
#   scripts/install-tauri-driver.sh
#
# Environment: TAURI_DRIVER_VERSION (default 2.1.0), CARGO_HOME (default
# ~/.cargo). A cold install compiles ~100 crates (about 2 min on 2 cores).
set -euo pipefail

version=${TAURI_DRIVER_VERSION:-2.1.0}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
bin=$cargo_home/bin/tauri-driver

if [ -x "$bin" ] && cargo install --list 2>/dev/null | grep -qx "tauri-driver v$version:"; then
    echo "tauri-driver $version: already installed at $bin"
    exit 0
fi

echo "==> cargo install tauri-driver@$version --locked"
cargo install tauri-driver --version "=$version" --locked --force
[ -x "$bin" ] || {
    echo "install-tauri-driver: $bin missing after cargo install" >&2
    exit 1
}
echo "tauri-driver $version: installed at $bin"
