#!/usr/bin/env bash
# Skiff's main job on Linux: build the VM image and the `skiff` CLI, start a
# local registry holding the offline test images, `skiff up` (the managed VM,
# QEMU; KVM when it really works, else TCG) with that registry as the
# guest's docker.io mirror, then `docker run --rm hello-world` with the real
# docker CLI on the forwarded socket.
#
#   scripts/run.sh            install deps, build, start registry + VM, run hello-world
#   scripts/run.sh stop       stop the VM, the registry (and a native skiffd)
#   scripts/run.sh native     skiffd natively on this host instead of in the VM
#                             (socket /run/skiff/docker.sock, data /var/lib/skiff)
#
# The VM: machine `default` under $SKIFF_HOME (~/.skiff); afterwards
#   eval "$(skiff env)"    or    docker context use skiff
# The registry: 127.0.0.1 on a port kept across runs (the machine's
# config.json remembers it as its mirror); the guest reaches it only through
# QEMU's guestfwd (restricted user networking: nothing else is reachable).
# Environment: CARGO_TARGET_DIR (default target/), SKIFF_HOME, DOCKER_CLI.
# State, logs and pids: target/skiff-run/
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="$root/target/skiff-run"
target_dir=${CARGO_TARGET_DIR:-$root/target}
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
skiff="$target_dir/release/skiff"
image_dir=${SKIFF_IMAGE_DIR:-$root/target/vm-image/amd64}
machine=default
machine_config="${SKIFF_HOME:-$HOME/.skiff}/machines/$machine/config.json"
native_sock=/run/skiff/docker.sock
docker=${DOCKER_CLI:-$( [ -x /usr/local/bin/docker ] && echo /usr/local/bin/docker || command -v docker )}

say() { echo "==> $*"; }

kill_pidfile() {
    local name=$1
    if [ -f "$state/$name.pid" ]; then
        kill "$(cat "$state/$name.pid")" 2>/dev/null || true
        rm -f "$state/$name.pid"
    fi
}

stop_all() {
    if [ -x "$skiff" ] && [ -f "$machine_config" ]; then
        "$skiff" machine stop "$machine" || true
    fi
    kill_pidfile skiffd
    kill_pidfile registry
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_free() {
    python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1])))' "$1" 2>/dev/null
}

# The offline images, then docker-registry on 127.0.0.1:$1 serving them.
start_registry() {
    local port=$1
    say "building the offline images"
    if [ ! -f "$state/fixtures/images.json" ]; then
        rm -rf "$state/fixtures"
        "$root/tests/fixtures/build-images.sh" "$state/fixtures"
    fi
    say "starting the local registry on 127.0.0.1:$port"
    cat > "$state/registry.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $state/fixtures/registry
http:
  addr: 127.0.0.1:$port
YAML
    setsid /usr/bin/docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 < /dev/null &
    echo $! > "$state/registry.pid"
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "run.sh: the registry did not start (log: $state/registry.log)" >&2
    exit 1
}

# skiffd on this host (the behaviour before the VM existed).
native() {
    say "building skiffd"
    (cd "$root" && cargo build --release -q -p skiffd -p skiff-shim)
    local port
    port=$(free_port)
    start_registry "$port"
    say "starting skiffd on $native_sock"
    setsid "$target_dir/release/skiffd" -H "unix://$native_sock" --data-root /var/lib/skiff \
        --registry-mirror "http://127.0.0.1:$port" >"$state/skiffd.log" 2>&1 < /dev/null &
    echo $! > "$state/skiffd.pid"
    for _ in $(seq 100); do
        curl -sf --unix-socket "$native_sock" http://skiff/_ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    say "docker run --rm hello-world"
    DOCKER_HOST="unix://$native_sock" "$docker" run --rm hello-world
    cat <<MSG

skiffd is running natively (log: $state/skiffd.log). Use it with:
    export DOCKER_HOST=unix://$native_sock
    docker images
Stop it with: scripts/run.sh stop
MSG
}

# The registry port: the one an existing machine was created with (its
# mirror), else a free one.
registry_port() {
    if [ -f "$machine_config" ]; then
        local mirror
        mirror=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("registry_mirror") or "")' "$machine_config")
        case "$mirror" in
            http://127.0.0.1:*)
                echo "${mirror##*:}"
                return 0
                ;;
            *)
                echo "run.sh: machine $machine exists without a 127.0.0.1 registry mirror (${mirror:-none});" \
                    "remove it with '$skiff machine rm' to let run.sh recreate it" >&2
                exit 1
                ;;
        esac
    fi
    free_port
}

vm() {
    if [ ! -f "$image_dir/manifest.json" ]; then
        say "building the VM image (vm-image/build.sh)"
        "$root/vm-image/build.sh" --out "$image_dir"
    fi
    say "building skiff"
    (cd "$root" && cargo build --release -q -p skiff-machine --bin skiff)
    local port
    port=$(registry_port)
    if ! curl -sf "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
        port_free "$port" || {
            echo "run.sh: 127.0.0.1:$port (machine $machine's registry mirror) is taken by another process" >&2
            exit 1
        }
        kill_pidfile registry
        start_registry "$port"
    fi
    say "skiff up"
    if [ -f "$machine_config" ]; then
        "$skiff" up "$machine"
    else
        "$skiff" up "$machine" --registry-mirror "http://127.0.0.1:$port" --image-dir "$image_dir"
    fi
    say 'eval "$(skiff env)"; docker run --rm hello-world'
    eval "$("$skiff" env "$machine" --shell sh)"
    "$docker" run --rm hello-world
    cat <<MSG

The Skiff VM is running; the docker CLI reaches it with either of
    eval "\$($skiff env)"
    docker context use skiff
Console: $skiff machine logs    Stop it (and the registry): scripts/run.sh stop
MSG
}

mkdir -p "$state"
case "${1:-up}" in
    stop)
        stop_all
        echo "stopped"
        ;;
    native)
        "$root/scripts/install-deps.sh"
        stop_all
        native
        ;;
    up)
        "$root/scripts/install-deps.sh"
        kill_pidfile skiffd
        vm
        ;;
    -h | --help | help)
        sed -n '2,19p' "$0"
        ;;
    *)
        echo "usage: scripts/run.sh [up|stop|native]" >&2
        exit 2
        ;;
esac
