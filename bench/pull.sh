#!/usr/bin/env bash
# Pull benchmark: skiffd vs dockerd, side by side, in one run.
#
#   bench/pull.sh                 # 5 rounds
#   ROUNDS=9 bench/pull.sh
#
# Pulls library/big:latest (5 layers x 20 MiB of /dev/urandom, gzip, schema2;
# built by tests/fixtures/build-images.sh) from a private docker-registry on
# 127.0.0.1 (as the docker.io mirror) with a private skiffd and a private
# dockerd, alternating which engine goes first, and prints per-round wall
# times, the medians and the ratio skiffd/dockerd (target <= 0.50), plus each
# daemon's CPU time and peak RSS (VmHWM) during the pulls.
#
# Everything it starts (registry, skiffd, containerd, dockerd) lives under one
# mktemp dir and is stopped and removed on exit, failure included. No system
# docker state is used: dockerd gets its own socket, data-root, exec-root,
# pidfile, config file, key file and its own containerd.
#
# Environment:
#   ROUNDS=5             rounds (each pulls once per engine)
#   SKIFFD=path          skiffd binary to use (default: cargo build --release -p skiffd)
#   SKIFFD_LOG_LEVEL=    skiffd's -l (default info); the log is kept with KEEP=1
#   DOCKERD=dockerd      dockerd binary;  CONTAINERD=containerd
#   DOCKER=/usr/local/bin/docker   the docker CLI used for both engines
#   STORAGE_DRIVER=      force dockerd's storage driver (default: overlay2,
#                        falling back to fuse-overlayfs then vfs if it refuses)
#   KEEP=1               keep the logs (the temp dir minus images) instead of
#                        removing everything at exit
#   BENCH_TMPDIR=/tmp    where the temp dir goes (keep it short: unix sockets)
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DOCKER=${DOCKER:-/usr/local/bin/docker}
DOCKERD=${DOCKERD:-dockerd}
CONTAINERD=${CONTAINERD:-containerd}
SKIFFD_LOG_LEVEL=${SKIFFD_LOG_LEVEL:-info}
IMAGE=big
LAYERS=5

# Messages go to the script's own stderr (fd 3) even when a trap fires while a
# command's output is redirected to a log.
exec 3>&2
die() {
    echo "pull.sh: $*" >&3
    exit 1
}
note() { echo "# $*" >&3; }

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
[ "$(id -u)" = 0 ] || die "must run as root (dockerd and skiffd need it)"
for tool in curl python3 docker-registry "$DOCKER" "$DOCKERD" "$CONTAINERD"; do
    command -v "$tool" >/dev/null || die "$tool not found (dockerd: apt-get install -y docker.io)"
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/skiff-pull.XXXXXX")

# ------------------------------------------------------------- cleanup
pids=() # "name:pid", stopped in reverse order
cleanup() {
    local rc=$? i entry name pid
    trap - EXIT INT TERM
    set +e
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        entry=${pids[i]}
        name=${entry%%:*}
        pid=${entry##*:}
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            note "$name ($pid) ignored SIGTERM for 15s; killing it"
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    # Anything a daemon left mounted under our dir (overlay2 makes its home
    # a private mount, a killed dockerd may leave it behind).
    local mnt
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null
    done < <(awk -v t="$tmp" '$5 == t || index($5, t "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    if [ "${KEEP:-0}" = 1 ]; then
        # Keep the logs, drop the bulk (images, registry copy).
        rm -rf "$tmp/registry" "$tmp/skiffd-data" "$tmp/dockerd-data" "$tmp/dockerd-exec" "$tmp/containerd" 2>/dev/null
        note "logs kept in $tmp"
    else
        rm -rf "$tmp"
        [ "$rc" = 0 ] || note "failed (exit $rc); rerun with KEEP=1 to keep the daemons' logs"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fail_with_log NAME LOG: report a daemon that did not come up.
fail_with_log() {
    echo "pull.sh: $1 did not start; last lines of $2:" >&3
    tail -n 30 "$2" >&3 || true
    exit 1
}

# wait_ping NAME PID SOCK LOG: waits until the engine answers /_ping with OK.
wait_ping() {
    local name=$1 pid=$2 sock=$3 log=$4
    for _ in $(seq 600); do
        if [ -S "$sock" ] && [ "$(curl -fsS --max-time 2 --unix-socket "$sock" http://x/_ping 2>/dev/null)" = OK ]; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# -------------------------------------------------------------- fixtures
# Same cache as the test harness (tests/src/fixtures.rs): target/skiff-fixtures
# /<hash of tests/fixtures/* but *.md>/, built under an exclusive flock of
# <hash>.lock into <hash>.tmp-<pid>, marked with .complete, then renamed.
fixture_key() {
    python3 - "$root/tests/fixtures" <<'EOF'
import hashlib, os, struct, sys
src = sys.argv[1]
names = sorted(n for n in os.listdir(src)
               if os.path.isfile(os.path.join(src, n)) and os.path.splitext(n)[1] != ".md")
h = hashlib.sha256()
for n in names:
    data = open(os.path.join(src, n), "rb").read()
    h.update(n.encode()); h.update(b"\0"); h.update(struct.pack("<Q", len(data))); h.update(data)
print(h.hexdigest()[:16])
EOF
}

target_dir=${CARGO_TARGET_DIR:-$root/target}
case $target_dir in /*) ;; *) target_dir=$root/$target_dir ;; esac
cache=${SKIFF_FIXTURES_CACHE:-$target_dir/skiff-fixtures}
key=$(fixture_key)
fixtures=$cache/$key
if [ ! -e "$fixtures/.complete" ]; then
    note "building fixture images into $fixtures (once; takes a minute)"
    mkdir -p "$cache"
    (
        exec 9>"$cache/$key.lock"
        flock 9
        [ -e "$fixtures/.complete" ] && exit 0
        staging=$cache/$key.tmp-$BASHPID
        rm -rf "$staging"
        bash "$root/tests/fixtures/build-images.sh" "$staging" || {
            rm -rf "$staging"
            exit 1
        }
        touch "$staging/.complete"
        rm -rf "$fixtures"
        mv "$staging" "$fixtures"
    ) || die "building fixtures failed"
fi
[ -d "$fixtures/registry" ] || die "$fixtures/registry missing"

# --------------------------------------------------------------- skiffd
if [ -n "${SKIFFD:-}" ]; then
    skiffd_bin=$SKIFFD
else
    note "cargo build --release -p skiffd"
    (cd "$root" && cargo build --release -q -p skiffd) || die "cargo build failed"
    skiffd_bin=$target_dir/release/skiffd
fi
[ -x "$skiffd_bin" ] || die "$skiffd_bin is not executable"

# ------------------------------------------------------------- registry
cp -a "$fixtures/registry" "$tmp/registry" # also warms the page cache
port=$(free_port)
mirror=http://127.0.0.1:$port
cat >"$tmp/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/registry
http:
  addr: 127.0.0.1:$port
  secret: skiff-bench
EOF
docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 </dev/null 3>&- &
pids+=("registry:$!")
reg_pid=$!
for _ in $(seq 200); do
    curl -fsS "$mirror/v2/" >/dev/null 2>&1 && break
    kill -0 "$reg_pid" 2>/dev/null || break
    sleep 0.05
done
curl -fsS "$mirror/v2/library/$IMAGE/manifests/latest" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >"$tmp/manifest.json" 2>/dev/null ||
    fail_with_log registry "$tmp/registry.log"
blob_bytes=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(l["size"] for l in m["layers"]))' "$tmp/manifest.json")
nlayers=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["layers"]))' "$tmp/manifest.json")
[ "$nlayers" = "$LAYERS" ] || die "library/$IMAGE has $nlayers layers, expected $LAYERS"

# ---------------------------------------------------------------- skiffd
skiffd_sock=$tmp/skiffd.sock
"$skiffd_bin" -H "unix://$skiffd_sock" --data-root "$tmp/skiffd-data" \
    --registry-mirror "$mirror" -l "$SKIFFD_LOG_LEVEL" >"$tmp/skiffd.log" 2>&1 </dev/null 3>&- &
skiffd_pid=$!
pids+=("skiffd:$skiffd_pid")
wait_ping skiffd "$skiffd_pid" "$skiffd_sock" "$tmp/skiffd.log" || fail_with_log skiffd "$tmp/skiffd.log"

# ------------------------------------------------- containerd + dockerd
# Our own containerd (so dockerd neither finds a system one on
# /run/containerd/containerd.sock nor supervises one we cannot see).
mkdir -p "$tmp/containerd"
ctr_sock=$tmp/containerd/containerd.sock
cat >"$tmp/containerd/config.toml" <<EOF
version = 2
root = "$tmp/containerd/root"
state = "$tmp/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ctr_sock"
[ttrpc]
  address = "$ctr_sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
"$CONTAINERD" --config "$tmp/containerd/config.toml" >"$tmp/containerd.log" 2>&1 </dev/null 3>&- &
ctr_pid=$!
pids+=("containerd:$ctr_pid")
for _ in $(seq 300); do
    [ -S "$ctr_sock" ] && break
    kill -0 "$ctr_pid" 2>/dev/null || fail_with_log containerd "$tmp/containerd.log"
    sleep 0.1
done
[ -S "$ctr_sock" ] || fail_with_log containerd "$tmp/containerd.log"

dockerd_sock=$tmp/dockerd.sock
# Our own daemon.json (not /etc/docker's); it also moves the trust key dockerd
# 20.10 would otherwise create as /etc/docker/key.json.
printf '{"deprecated-key-path": "%s"}\n' "$tmp/dockerd-key.json" >"$tmp/daemon.json"
# start_dockerd DRIVER: starts dockerd with that storage driver; 0 if it answers.
start_dockerd() {
    local driver=$1
    rm -rf "$tmp/dockerd-data" "$tmp/dockerd-exec"
    "$DOCKERD" -H "unix://$dockerd_sock" \
        --config-file "$tmp/daemon.json" \
        --data-root "$tmp/dockerd-data" --exec-root "$tmp/dockerd-exec" \
        --pidfile "$tmp/dockerd.pid" \
        --containerd "$ctr_sock" --containerd-namespace skiff-bench \
        --containerd-plugins-namespace skiff-bench-plugins \
        --registry-mirror "$mirror" \
        --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        --bridge=none --storage-driver="$driver" >"$tmp/dockerd-$driver.log" 2>&1 </dev/null 3>&- &
    dockerd_pid=$!
    pids+=("dockerd:$dockerd_pid")
    if wait_ping dockerd "$dockerd_pid" "$dockerd_sock" "$tmp/dockerd-$driver.log"; then
        return 0
    fi
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
    return 1
}
driver_note=""
if [ -n "${STORAGE_DRIVER:-}" ]; then
    start_dockerd "$STORAGE_DRIVER" || fail_with_log "dockerd ($STORAGE_DRIVER)" "$tmp/dockerd-$STORAGE_DRIVER.log"
else
    started=""
    for driver in overlay2 fuse-overlayfs vfs; do
        [ "$driver" = fuse-overlayfs ] && ! command -v fuse-overlayfs >/dev/null && continue
        if start_dockerd "$driver"; then
            started=$driver
            break
        fi
        why=$(grep -m1 -iE 'error|fail|unknown' "$tmp/dockerd-$driver.log" | cut -c1-200 || true)
        note "dockerd did not start with storage driver $driver: ${why:-see $tmp/dockerd-$driver.log}"
        driver_note+="dockerd refused storage driver $driver (${why:-no error logged}); "
    done
    [ -n "$started" ] || fail_with_log dockerd "$tmp/dockerd-overlay2.log"
fi

# ----------------------------------------------------------------- client
export DOCKER_CONFIG=$tmp/docker-cli # never the user's ~/.docker
export DOCKER_CLI_HINTS=false
mkdir -p "$DOCKER_CONFIG"
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
declare -A sock=([skiffd]=$skiffd_sock [dockerd]=$dockerd_sock)
declare -A pid=([skiffd]=$skiffd_pid [dockerd]=$dockerd_pid)
dk() { # dk ENGINE ARGS...
    local engine=$1
    shift
    DOCKER_HOST=unix://${sock[$engine]} "$DOCKER" "$@"
}

dockerd_version=$(dk dockerd version --format '{{.Server.Version}}')
dockerd_driver=$(dk dockerd info --format '{{.Driver}}')
dockerd_backing=$(dk dockerd info --format '{{range .DriverStatus}}{{index . 0}}={{index . 1}} {{end}}')
skiffd_version=$(dk skiffd version --format '{{.Server.Version}}' 2>/dev/null || echo '?')
skiffd_rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')

# proc_cpu PID: utime+stime+cutime+cstime of PID in seconds.
proc_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13 + $14 + $15) / hz }' "/proc/$1/stat"
}
# proc_hwm PID: VmHWM in MiB.
proc_hwm() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
proc_rss() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# reset ENGINE: remove the image and everything it pulled; verify.
reset() {
    local engine=$1
    dk "$engine" rmi -f "$IMAGE" >/dev/null 2>&1 || true
    dk "$engine" image prune -af >/dev/null
    [ -z "$(dk "$engine" images -q "$IMAGE")" ] || die "$engine: $IMAGE still listed after rmi + prune"
    [ -z "$(dk "$engine" images -qa)" ] || die "$engine: images left after prune: $(dk "$engine" images -qa | tr '\n' ' ')"
}

# pull ENGINE ROUND: one timed pull; sets secs, cpu, hwm.
pull() {
    local engine=$1 round=$2 p=${pid[$1]} log t0 t1 c0 c1 got
    log=$tmp/pull-$engine-$round.log
    # Peak RSS of this pull only: clear_refs 5 resets VmHWM to the current RSS.
    echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true
    c0=$(proc_cpu "$p")
    t0=$(date +%s.%N)
    if ! dk "$engine" pull "$IMAGE" >"$log" 2>&1; then
        cat "$log" >&3
        die "$engine: docker pull $IMAGE failed (round $round)"
    fi
    t1=$(date +%s.%N)
    c1=$(proc_cpu "$p")
    hwm=$(proc_hwm "$p")
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
    # It must have downloaded every layer, not reused anything.
    got=$(grep -c 'Download complete' "$log" || true)
    if [ "$got" != "$LAYERS" ] || grep -q 'Already exists' "$log"; then
        cat "$log" >&3
        die "$engine: round $round downloaded $got/$LAYERS layers (not a cold pull)"
    fi
    ids[$engine]=$(dk "$engine" image inspect --format '{{.Id}}' "$IMAGE")
}

declare -A ids
declare -A times cpus hwms
rss_start_s=$(proc_rss "$skiffd_pid")
rss_start_d=$(proc_rss "$dockerd_pid")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'pull benchmark: docker.io/library/%s (%d layers, %.1f MiB gzip blobs) from docker-registry %s\n' \
    "$IMAGE" "$LAYERS" "$(awk -v b="$blob_bytes" 'BEGIN { print b / 1048576 }')" "$mirror"
printf 'skiffd  %s (%s, rev %s)\n' "$skiffd_version" "$skiffd_bin" "$skiffd_rev"
printf 'dockerd %s, storage driver %s (%s), containerd %s\n' "$dockerd_version" "$dockerd_driver" \
    "${dockerd_backing% }" "$("$CONTAINERD" --version | awk '{ print $3 }')"
[ -n "$driver_note" ] && printf 'NOTE: %s\n' "$driver_note"
printf 'client  docker CLI %s; rounds: %s, engine order alternates; host: %s cores, kernel %s, load %s\n\n' \
    "$(dk dockerd version --format '{{.Client.Version}}')" "$ROUNDS" "$(nproc)" "$(uname -r)" "$load_before"

printf '%-5s  %-7s  %9s %8s %9s  %9s %8s %9s  %6s\n' round first 'skiffd s' 'cpu s' 'peak MiB' \
    'dockerd s' 'cpu s' 'peak MiB' ratio
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order=(skiffd dockerd); else order=(dockerd skiffd); fi
    for engine in "${order[@]}"; do
        reset "$engine"
        pull "$engine" "$r"
        times[$engine,$r]=$secs
        cpus[$engine,$r]=$cpu
        hwms[$engine,$r]=$hwm
    done
    [ "${ids[skiffd]}" = "${ids[dockerd]}" ] || die "image ids differ: skiffd ${ids[skiffd]} dockerd ${ids[dockerd]}"
    printf '%-5s  %-7s  %9.2f %8s %9s  %9.2f %8s %9s  %6.2f\n' "$r" "${order[0]}" \
        "${times[skiffd,$r]}" "${cpus[skiffd,$r]}" "${hwms[skiffd,$r]}" \
        "${times[dockerd,$r]}" "${cpus[dockerd,$r]}" "${hwms[dockerd,$r]}" \
        "$(awk -v a="${times[skiffd,$r]}" -v b="${times[dockerd,$r]}" 'BEGIN { print a / b }')"
done

# The last pulled image stays: clean it up so the daemons stop with nothing.
for engine in skiffd dockerd; do reset "$engine"; done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
max() { tr ' ' '\n' | grep . | sort -g | tail -n1; }
col() { # col ARRAY ENGINE
    local -n arr=$1
    local r out=""
    for ((r = 1; r <= ROUNDS; r++)); do out+="${arr[$2,$r]} "; done
    echo "$out"
}
ms=$(col times skiffd | median)
md=$(col times dockerd | median)
cs=$(col cpus skiffd | median)
cd_=$(col cpus dockerd | median)
hs=$(col hwms skiffd | max)
hd=$(col hwms dockerd | max)
ratio=$(awk -v a="$ms" -v b="$md" 'BEGIN { printf "%.2f", a / b }')
printf '%-5s  %-7s  %9.2f %8.2f %9s  %9.2f %8.2f %9s  %6.2f\n' median '' "$ms" "$cs" "max $hs" "$md" "$cd_" "max $hd" "$ratio"
echo
printf 'throughput (median): skiffd %.0f MiB/s  dockerd %.0f MiB/s  (compressed bytes)\n' \
    "$(awk -v b="$blob_bytes" -v s="$ms" 'BEGIN { print b / 1048576 / s }')" \
    "$(awk -v b="$blob_bytes" -v s="$md" 'BEGIN { print b / 1048576 / s }')"
printf 'RSS: peak during a pull (VmHWM, max over rounds) skiffd %s MiB  dockerd %s MiB;  idle before -> after the run: skiffd %s -> %s MiB  dockerd %s -> %s MiB\n' \
    "$hs" "$hd" "$rss_start_s" "$(proc_rss "$skiffd_pid")" "$rss_start_d" "$(proc_rss "$dockerd_pid")"
printf 'load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 0.5) ? "met" : "NOT met" }')
printf 'median skiffd %.2fs  dockerd %.2fs  ratio %s (target ≤ 0.50: %s)\n' "$ms" "$md" "$ratio" "$verdict"
