#!/usr/bin/env bash
# Screenshots of the demo build (npm run build:demo) in headless Debian
# Chromium, for looking at the UI outside Tauri. Writes ui/screenshots/*.png.
# Usage: scripts/screenshots.sh [scene-name ...]   (default: every scene)
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
PORT=${PORT:-4173}
SIZE=${SIZE:-1280,800}
OUT=screenshots
mkdir -p "$OUT"

declare -A SCENES=(
  [containers]='?view=containers'
  [containers-selected]='?view=containers&select=shop-web-1,worker,migrate'
  [containers-confirm]='?view=containers&confirm=shop-web-1'
  [logs]='?view=containers&details=shop-web-1'
  [inspect]='?view=containers&details=shop-db-1&tab=inspect'
  [stats]='?view=containers&details=shop-web-1&tab=stats'
  [terminal]='?view=containers&details=shop-web-1&tab=terminal'
  [files]='?view=containers&details=shop-web-1&tab=files'
  [layers]='?layers=ghcr.io/acme/worker:2.3.1'
  [images]='?view=images'
  [pull]='?pull=node:22-alpine&speed=0.08'
  [run]='?run=nginx:1.27'
  [machine]='?view=machine'
  [machine-starting]='?view=machine&starting'
  [machine-broken]='?view=machine&broken'
  [unreachable]='?view=containers&unreachable'
  [empty]='?view=containers&empty'
  [images-empty]='?view=images&empty'
  [images-build]='?build'
  [images-push]='?push=ghcr.io/acme/worker:2.3.1&speed=0.25'
  [images-tags]='?tags=nginx'
  [registries]='?view=registries'
  [settings]='?view=settings'
  [troubleshoot]='?view=troubleshoot'
)

if [[ ! -f dist-demo/index.html ]]; then npm run build:demo >/dev/null; fi
node_modules/.bin/vite preview --outDir dist-demo --port "$PORT" --strictPort >/tmp/skiff-ui-preview.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 0.2; done

scenes=("$@")
[[ ${#scenes[@]} -gt 0 ]] || scenes=("${!SCENES[@]}")
for name in "${scenes[@]}"; do
  for scheme in light dark; do
    flags=()
    [[ $scheme == dark ]] && flags+=(--force-dark-mode --blink-settings=preferredColorScheme=0)
    profile=$(mktemp -d)
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$profile" --hide-scrollbars --window-size="$SIZE" \
      --virtual-time-budget=4000 --force-prefers-reduced-motion "${flags[@]}" \
      --screenshot="$OUT/$name-$scheme.png" "http://127.0.0.1:$PORT/${SCENES[$name]}" >/dev/null 2>&1
    rm -rf "$profile"
  done
  echo "$OUT/$name-{light,dark}.png"
done
