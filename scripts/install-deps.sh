#!/usr/bin/env bash
# Installs what Skiff's tests and benchmarks need on a Debian machine.
# Idempotent: when every package is already installed, apt is not touched.
#
#   scripts/install-deps.sh
#
# - docker-registry, umoci, skopeo, busybox-static, gcc, libc6-dev, python3,
#   curl: build the offline test images (tests/fixtures/build-images.sh)
#   and serve them (tests/src/registry.rs);
# - apache2-utils: htpasswd for the authenticated test registry;
# - docker.io: the reference dockerd that benchmarks run side by side;
# - jq, util-linux, ca-certificates: used by the scripts and tests;
# - libseccomp-dev, pkg-config: youki's libcontainer (the container shim).
# - scripts/deps/*.apt: more packages, one per line (# comments), one file
#   per area of the project (the desktop app, the VM image, ...).
# The tests drive skiffd with a docker CLI >= 28 (/usr/local/bin/docker when
# present); Debian's docker.io ships an older CLI, so this script only checks.
set -euo pipefail

packages=(
    docker-registry umoci skopeo busybox-static apache2-utils docker.io jq
    util-linux ca-certificates gcc libc6-dev python3 curl libseccomp-dev pkg-config
)
deps_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/deps
for list in "$deps_dir"/*.apt; do
    [ -e "$list" ] || continue
    while read -r pkg; do
        pkg=${pkg%%#*}
        pkg=$(echo "$pkg" | tr -d '[:space:]')
        [ -n "$pkg" ] && packages+=("$pkg")
    done <"$list"
done

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        sudo=(sudo)
    else
        echo "install-deps.sh: run as root (or install sudo)" >&2
        exit 1
    fi
fi

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps.sh: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The docker CLI the tests use: DOCKER_CLI, /usr/local/bin/docker, then PATH.
docker_cli=${DOCKER_CLI:-}
if [ -z "$docker_cli" ]; then
    if [ -x /usr/local/bin/docker ]; then
        docker_cli=/usr/local/bin/docker
    else
        docker_cli=$(command -v docker || true)
    fi
fi
version=""
if [ -n "$docker_cli" ]; then
    version=$("$docker_cli" --version 2>/dev/null | sed -n 's/^Docker version \([0-9][0-9]*\)\..*/\1/p')
fi
if [ -z "$version" ] || [ "$version" -lt 28 ]; then
    echo "install-deps.sh: warning: no docker CLI >= 28 found (${docker_cli:-none}${version:+, major $version});" \
        "the end-to-end tests expect one at /usr/local/bin/docker or in \$DOCKER_CLI" >&2
fi

# Compose v2, as a docker CLI plugin (not in Debian): see install-compose.sh.
"$(dirname "${BASH_SOURCE[0]}")/install-compose.sh"

if ! command -v cargo >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    cat >&2 <<'EOF'
install-deps.sh: cargo not found. Install Rust with rustup:
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
    . "$HOME/.cargo/env"
EOF
    exit 1
fi

# The Rust virtiofsd (crates.io; Debian bookworm has only QEMU's C one):
# shared folders of a machine run by a user (install-virtiofsd.sh).
"$(dirname "${BASH_SOURCE[0]}")/install-virtiofsd.sh"
