#!/usr/bin/env bash
# Skiff's main job, natively on Linux (as root): build skiffd, start it with a
# local registry as its docker.io mirror, and `docker run hello-world` with
# the real docker CLI.
#
#   scripts/run.sh          start (or restart) skiffd and the registry, run hello-world
#   scripts/run.sh stop     stop both
#
# skiffd:   socket /run/skiff/docker.sock, data root /var/lib/skiff
# registry: 127.0.0.1 (a free port), serving the offline images that
#           tests/fixtures/build-images.sh builds from Debian's busybox-static
# State, logs and pids: target/skiff-run/
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="$root/target/skiff-run"
sock=/run/skiff/docker.sock
docker=${DOCKER_CLI:-$( [ -x /usr/local/bin/docker ] && echo /usr/local/bin/docker || command -v docker )}

stop() {
    for name in skiffd registry; do
        if [ -f "$state/$name.pid" ]; then
            kill "$(cat "$state/$name.pid")" 2>/dev/null || true
            rm -f "$state/$name.pid"
        fi
    done
}

if [ "${1:-}" = stop ]; then
    stop
    echo "stopped"
    exit 0
fi

"$root/scripts/install-deps.sh"
mkdir -p "$state"
stop

echo "==> building skiffd"
(cd "$root" && cargo build --release -q -p skiffd -p skiff-shim)

echo "==> building the offline images"
if [ ! -f "$state/fixtures/images.json" ]; then
    rm -rf "$state/fixtures"
    "$root/tests/fixtures/build-images.sh" "$state/fixtures"
fi

echo "==> starting the local registry"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
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

echo "==> starting skiffd on $sock"
setsid "$root/target/release/skiffd" -H "unix://$sock" --data-root /var/lib/skiff \
    --registry-mirror "http://127.0.0.1:$port" >"$state/skiffd.log" 2>&1 < /dev/null &
echo $! > "$state/skiffd.pid"
for _ in $(seq 100); do
    if curl -sf --unix-socket "$sock" http://skiff/_ping >/dev/null 2>&1 && curl -sf "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
        break
    fi
    sleep 0.1
done

echo "==> docker run hello-world"
DOCKER_HOST="unix://$sock" "$docker" run --rm hello-world

cat <<MSG

skiffd is running (log: $state/skiffd.log). Use it with:
    export DOCKER_HOST=unix://$sock
    docker images
Stop it with: scripts/run.sh stop
MSG
