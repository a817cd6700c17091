#!/usr/bin/env bash
# Regenerates the app and tray icons (RGBA PNGs) from boat.svg with
# ImageMagick. The PNGs are committed; run this only to change the design.
#
#   src-tauri/icons/make-icons.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

convert -background none -density 96 boat.svg PNG32:"$tmp/boat.png"

# App icon: the white boat on a rounded square, sky blue to deep blue.
convert -size 512x512 gradient:'#38bdf8-#1d4ed8' "$tmp/bg.png"
convert -size 512x512 xc:none -fill white -draw "roundrectangle 16,16 495,495 112,112" "$tmp/mask.png"
convert "$tmp/bg.png" "$tmp/mask.png" -alpha off -compose CopyOpacity -composite PNG32:"$tmp/square.png"
convert "$tmp/square.png" "$tmp/boat.png" -compose Over -composite PNG32:icon.png
for size in 32 128 256; do
    convert icon.png -resize ${size}x${size} PNG32:${size}x${size}.png
done
mv 256x256.png 128x128@2x.png

# Tray icons: the boat on a disc whose colour is the state.
tray() { # name colour
    convert -size 512x512 xc:none -fill "$2" -draw "circle 256,256 256,8" "$tmp/disc.png"
    convert "$tmp/disc.png" \( "$tmp/boat.png" -resize 400x400 \) -gravity center -geometry +0-12 \
        -compose Over -composite -resize 64x64 PNG32:"tray-$1.png"
}
tray running '#16a34a'
tray stopped '#6b7280'
tray starting '#d97706'
