# shellcheck shell=bash
# Helpers shared by the bench scripts: sourced, not run.
#
#   BENCH_NAME=containers          # names messages and the temp dir
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_init tool...              # root check, tools, temp dir, cleanup traps,
#                                   #   the run's network namespace (in_netns CMD...)
#   bench_fixtures                  # -> $fixtures (the test harness's image cache)
#   bench_build_skiffd pkg...       # -> $skiffd_bin (cargo build --release -p pkg...)
#   bench_registry                  # -> $mirror, docker-registry on 127.0.0.1 (in the netns)
#   bench_serve_registry NAME DIR   # -> $registry_addr, $registry_pid: another docker-registry
#   bench_image_rounds IMAGE N      # pull/push: all of the above up to the registry, its manifest
#   bench_rounds OP [CHECK]         # pull/push: the per-round table (bench_timed in OP), then
#                                   #   bench_rounds_summary, bench_rounds_verdict
#   bench_start_skiffd              # -> $skiffd_sock, $skiffd_pid
#   bench_start_dockerd             # -> $dockerd_sock, $dockerd_pid, $ctr_pid, $driver_note
#   bench_client                    # -> dk ENGINE ARGS..., ${sock[...]}, ${pid[...]}
#
# The host's network is never touched: the registry and both engines run in
# a network namespace of the run's own (loopback only; the scripts talk to
# the daemons over unix sockets), so dockerd's bridge handling (it deletes
# `docker0` when started with --bridge=none) and anything else they do to
# links, addresses, routes or firewall rules stays in that namespace, which
# disappears with its last process. containerd and dockerd also get a mount
# namespace with a /run of their own (see bench_netns). dockerd runs with
# --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false and a
# cgroup parent of the run's own (skiff-bench-<dir>-dockerd), not /docker.
#
# Everything lives under one mktemp dir ($tmp, "skiff-$BENCH_NAME.XXXXXX" in
# ${BENCH_TMPDIR:-/tmp}) holding an `owner` file with the script's pid. At
# exit (failure and SIGINT/SIGTERM included) the script's `bench_before_stop`
# runs if it defines one, the daemons stop in reverse order, and `bench_reap`
# kills whatever is left that names the dir (shims), the cgroups of the
# containers recorded in the data roots, unmounts and removes the dir. At
# start, the dirs of earlier runs whose owner is gone (kill -9, a crash) are
# reaped the same way.
#
# Environment (common to the scripts): SKIFFD=path, SKIFFD_LOG_LEVEL=,
# DOCKERD=, CONTAINERD=, DOCKER=, STORAGE_DRIVER=, KEEP=1, BENCH_TMPDIR=.

DOCKER=${DOCKER:-/usr/local/bin/docker}
DOCKERD=${DOCKERD:-dockerd}
CONTAINERD=${CONTAINERD:-containerd}
SKIFFD_LOG_LEVEL=${SKIFFD_LOG_LEVEL:-info}

# Messages go to the script's own stderr (fd 3) even when a trap fires while a
# command's output is redirected to a log.
exec 3>&2
die() {
    echo "$BENCH_NAME.sh: $*" >&3
    exit 1
}
note() { echo "# $*" >&3; }

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_base=${BENCH_TMPDIR:-/tmp}

# bench_pids_naming DIR: pids (one a line) whose command line mentions DIR.
bench_pids_naming() {
    local re p
    # "DIR[/]" as a regex does not match grep's own command line.
    re=$(printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g')'[/]'
    while read -r p; do
        p=${p#/proc/}
        p=${p%/cmdline}
        [ "$p" = "$$" ] || echo "$p"
    done < <(grep -slaE -- "$re" /proc/[0-9]*/cmdline 2>/dev/null)
}

# bench_dockerd_cgroup_parent DIR: dockerd's --cgroup-parent for temp dir DIR.
bench_dockerd_cgroup_parent() { echo "skiff-bench-${1##*/}-dockerd"; }

# bench_kill_cgroups DIR: kills the processes of the containers recorded in
# DIR's data roots (skiffd: cgroup /skiff/<id>, dockerd: under its parent of
# the run, or /docker/<id> for runs of older scripts; v1 controllers and the
# unified hierarchy) and removes their cgroups, then dockerd's parent.
bench_kill_cgroups() {
    local dir=$1 id cg ids=() cgs=() parent
    parent=$(bench_dockerd_cgroup_parent "$dir")
    for id in "$dir"/skiffd-data/containers/* "$dir"/dockerd-data/containers/*; do
        [ -d "$id" ] && ids+=("${id##*/}")
    done
    for id in "${ids[@]}"; do
        for cg in /sys/fs/cgroup/*/skiff/"$id" /sys/fs/cgroup/*/docker/"$id" \
            /sys/fs/cgroup/skiff/"$id" /sys/fs/cgroup/docker/"$id"; do
            [ -d "$cg" ] && cgs+=("$cg")
        done
    done
    # Whatever is under dockerd's parent, recorded in the data root or not.
    for cg in /sys/fs/cgroup/*/"$parent"/*/ /sys/fs/cgroup/"$parent"/*/; do
        [ -d "$cg" ] && cgs+=("${cg%/}")
    done
    if [ ${#cgs[@]} -eq 0 ]; then
        bench_rmdir_cgroup_parent "$parent"
        return 0
    fi
    for _ in 1 2 3; do
        for cg in "${cgs[@]}"; do
            [ -e "$cg/freezer.state" ] && echo THAWED >"$cg/freezer.state" 2>/dev/null
            if [ -e "$cg/cgroup.kill" ]; then
                echo 1 >"$cg/cgroup.kill" 2>/dev/null
            elif [ -e "$cg/cgroup.procs" ]; then
                xargs -r kill -KILL <"$cg/cgroup.procs" 2>/dev/null
            fi
        done
        sleep 0.2
    done
    for cg in "${cgs[@]}"; do rmdir "$cg" 2>/dev/null; done
    bench_rmdir_cgroup_parent "$parent"
    return 0
}

# bench_rmdir_cgroup_parent NAME: removes the (empty) cgroup NAME of every
# hierarchy.
bench_rmdir_cgroup_parent() {
    local cg
    for cg in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
        [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
    done
    return 0
}

# bench_reap DIR: what a run left behind under DIR: processes naming it,
# its containers, its mounts, then DIR itself (KEEP=1 keeps DIR's logs).
bench_reap() {
    local dir=$1 keep=${2:-0} p mnt left
    left=$(bench_pids_naming "$dir")
    if [ -n "$left" ]; then
        # shellcheck disable=SC2086
        kill -TERM $left 2>/dev/null
        sleep 1
        left=$(bench_pids_naming "$dir")
        # shellcheck disable=SC2086
        [ -z "$left" ] || kill -KILL $left 2>/dev/null
    fi
    bench_kill_cgroups "$dir"
    bench_cpu_cgroup_remove "$dir"
    # Anything a daemon left mounted under the dir (overlay2 makes its home a
    # private mount, container rootfs overlays, shm, ...): innermost first.
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null
    done < <(awk -v t="$dir" '$5 == t || index($5, t "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    if [ "$keep" = 1 ]; then
        # Keep the logs, drop the bulk (images, registry copy, data roots);
        # with no owner file, later runs leave the dir alone.
        rm -rf "$dir/owner" "$dir/registry" "$dir/skiffd-data" "$dir/dockerd-data" "$dir/dockerd-exec" "$dir/containerd" 2>/dev/null
    else
        rm -rf "$dir"
    fi
    return 0
}

# proc_start PID: the process's start time (clock ticks after boot), which
# tells a live owner from a reused pid.
proc_start() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

# bench_sweep: reaps the temp dirs of earlier bench runs whose owner died.
bench_sweep() {
    local dir owner started
    for dir in "$bench_base"/skiff-*.??????; do
        [ -f "$dir/owner" ] || continue
        read -r owner started <"$dir/owner" || true
        if [ -n "$owner" ] && [ "$(proc_start "$owner")" = "$started" ]; then
            continue # a run in progress
        fi
        note "reaping $dir, left by an aborted run (pid ${owner:-?})"
        (
            set +e
            bench_reap "$dir"
        )
    done
}

# ------------------------------------------------------------- cleanup
pids=() # "name:pid", stopped in reverse order
bench_cleanup() {
    local rc=$? i entry name p
    trap - EXIT INT TERM
    set +e
    if declare -F bench_before_stop >/dev/null; then bench_before_stop; fi
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        entry=${pids[i]}
        name=${entry%%:*}
        p=${entry##*:}
        kill -0 "$p" 2>/dev/null || continue
        kill -TERM "$p" 2>/dev/null
        for _ in $(seq 150); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$p" 2>/dev/null; then
            note "$name ($p) ignored SIGTERM for 15s; killing it"
            kill -KILL "$p" 2>/dev/null
        fi
        wait "$p" 2>/dev/null
    done
    bench_netns_close
    bench_reap "$tmp" "${KEEP:-0}"
    if [ "${KEEP:-0}" = 1 ]; then
        note "logs kept in $tmp"
    else
        [ "$rc" = 0 ] || note "failed (exit $rc); rerun with KEEP=1 to keep the daemons' logs"
    fi
    exit "$rc"
}

# bench_init TOOL...: checks root and the tools, reaps aborted runs, makes $tmp.
bench_init() {
    local tool
    [ "$(id -u)" = 0 ] || die "must run as root (dockerd and skiffd need it)"
    for tool in curl python3 unshare nsenter ip docker-registry "$DOCKER" "$DOCKERD" "$CONTAINERD" "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found (dockerd: apt-get install -y docker.io)"
    done
    bench_sweep
    tmp=$(mktemp -d "$bench_base/skiff-$BENCH_NAME.XXXXXX")
    echo "$$ $(proc_start $$)" >"$tmp/owner"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    bench_netns
}

# fail_with_log NAME LOG: report a daemon that did not come up.
fail_with_log() {
    echo "$BENCH_NAME.sh: $1 did not start; last lines of $2:" >&3
    tail -n 30 "$2" >&3 || true
    exit 1
}

# wait_ping PID SOCK: waits until the engine answers /_ping with OK.
wait_ping() {
    local p=$1 s=$2
    for _ in $(seq 600); do
        if [ -S "$s" ] && [ "$(curl -fsS --max-time 2 --unix-socket "$s" http://x/_ping 2>/dev/null)" = OK ]; then
            return 0
        fi
        kill -0 "$p" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# free_port: a free TCP port on 127.0.0.1 of the run's network namespace.
free_port() {
    in_netns python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_numbers NAME=DEFAULT...: sets each NAME from the environment, or to
# DEFAULT when unset or empty; dies unless it is a whole number.
bench_numbers() {
    local arg n
    for arg in "$@"; do
        n=${arg%%=*}
        printf -v "$n" '%s' "${!n:-${arg#*=}}"
        [[ ${!n} =~ ^[0-9]+$ ]] || die "$n must be a number (got '${!n}')"
    done
}

# bench_rm_containers [--volumes] ENGINE...: for bench_before_stop: removes
# every container of each ENGINE whose socket is still there (with
# --volumes, then its volumes too).
bench_rm_containers() {
    local volumes="" e ids
    if [ "${1:-}" = --volumes ]; then
        volumes=1
        shift
    fi
    for e in "$@"; do
        [ -S "${sock[$e]:-/nonexistent}" ] || continue
        ids=$(timeout 30 "$DOCKER" -H "unix://${sock[$e]}" ps -aq 2>/dev/null) || continue
        # shellcheck disable=SC2086
        [ -z "$ids" ] || timeout 120 "$DOCKER" -H "unix://${sock[$e]}" rm -f $ids >/dev/null 2>&1
        [ -z "$volumes" ] || timeout 60 "$DOCKER" -H "unix://${sock[$e]}" volume prune -af >/dev/null 2>&1 || true
    done
}

# ---------------------------------------------------- network namespace
# bench_netns: creates the run's namespaces and keeps them open on fds
# $netns_fd and $mntns_fd (they live while this script or a process inside
# does: no bind mount, no name in /run/netns, nothing to remove):
# - a network namespace (loopback up, nothing else) for the registry and
#   both engines: `in_netns CMD...` runs CMD in it;
# - for containerd and dockerd, also a mount namespace (private propagation)
#   with a tmpfs of its own on /run: what they and runc put there by
#   default (/run/docker/plugins, /run/containerd/runc, /run/runc) stays out
#   of the host's /run, and their mounts out of the host's mount table.
# For a daemon started with `&`, use `"${netns_exec[@]}" CMD... &` (or
# "${dockerns_exec[@]}"): nsenter becomes CMD, so $! is the daemon's pid (a
# backgrounded function would be a subshell whose death leaves it running).
bench_netns() {
    local holder self_net self_mnt net="" mnt="" comm=""
    self_net=$(readlink /proc/self/ns/net)
    self_mnt=$(readlink /proc/self/ns/mnt)
    unshare --net --mount --propagation private -- \
        sh -c 'mount -n -t tmpfs -o mode=0755,size=64m skiff-bench-run /run && exec sleep 60' \
        </dev/null >/dev/null 2>&1 3>&- &
    holder=$!
    for _ in $(seq 500); do
        comm=$(cat "/proc/$holder/comm" 2>/dev/null) || comm=""
        [ "$comm" = sleep ] && break
        kill -0 "$holder" 2>/dev/null || die "unshare --net --mount failed (no namespaces for the daemons)"
        sleep 0.01
    done
    net=$(readlink "/proc/$holder/ns/net" 2>/dev/null) || net=""
    mnt=$(readlink "/proc/$holder/ns/mnt" 2>/dev/null) || mnt=""
    [ "$comm" = sleep ] && [ -n "$net" ] && [ "$net" != "$self_net" ] && [ -n "$mnt" ] && [ "$mnt" != "$self_mnt" ] ||
        die "unshare --net --mount did not create the namespaces"
    exec {netns_fd}<"/proc/$holder/ns/net" {mntns_fd}<"/proc/$holder/ns/mnt"
    kill -KILL "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null || true
    [ "$(readlink "/dev/fd/$netns_fd")" = "$net" ] && [ "$(readlink "/dev/fd/$mntns_fd")" = "$mnt" ] ||
        die "lost the namespaces $net $mnt"
    netns_exec=(nsenter "--net=/proc/$$/fd/$netns_fd" --)
    dockerns_exec=(nsenter "--net=/proc/$$/fd/$netns_fd" "--mount=/proc/$$/fd/$mntns_fd" "--wd=$PWD" --)
    in_netns ip link set lo up || die "cannot bring lo up in the run's network namespace"
    note "daemons run in a network namespace of their own ($net); dockerd and containerd also in $mnt"
}
# bench_netns_close: drops this script's hold on the namespaces.
bench_netns_close() {
    [ -z "${netns_fd:-}" ] || exec {netns_fd}<&-
    [ -z "${mntns_fd:-}" ] || exec {mntns_fd}<&-
    netns_fd="" mntns_fd=""
}
in_netns() { "${netns_exec[@]}" "$@"; }

# -------------------------------------------------------------- fixtures
# Same cache as the test harness (tests/src/fixtures.rs): target/skiff-fixtures
# /<hash of tests/fixtures/* but *.md>/, built under an exclusive flock of
# <hash>.lock into <hash>.tmp-<pid>, marked with .complete, then renamed.
fixture_key() {
    python3 - "$bench_root/tests/fixtures" <<'EOF'
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

target_dir=${CARGO_TARGET_DIR:-$bench_root/target}
case $target_dir in /*) ;; *) target_dir=$bench_root/$target_dir ;; esac

bench_fixtures() {
    local cache key
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
            bash "$bench_root/tests/fixtures/build-images.sh" "$staging" || {
                rm -rf "$staging"
                exit 1
            }
            touch "$staging/.complete"
            rm -rf "$fixtures"
            mv "$staging" "$fixtures"
        ) || die "building fixtures failed"
    fi
    [ -d "$fixtures/registry" ] || die "$fixtures/registry missing"
}

# bench_build_skiffd PKG...: $SKIFFD, or a release build of the packages
# (skiffd finds skiff-shim next to itself).
bench_build_skiffd() {
    local args=() p
    if [ -n "${SKIFFD:-}" ]; then
        skiffd_bin=$SKIFFD
    else
        for p in "$@"; do args+=(-p "$p"); done
        note "cargo build --release ${args[*]}"
        (cd "$bench_root" && cargo build --release -q "${args[@]}") || die "cargo build failed"
        skiffd_bin=$target_dir/release/skiffd
    fi
    [ -x "$skiffd_bin" ] || die "$skiffd_bin is not executable"
}

# ------------------------------------------------------------- registry
# shellcheck source=tests/fixtures/registry.sh
source "$bench_root/tests/fixtures/registry.sh"

# bench_serve_registry NAME ROOTDIR: starts a docker-registry in the run's
# network namespace on a free port, storing in ROOTDIR (config
# $tmp/NAME.yml, log $tmp/NAME.log); waits until it answers. Sets
# registry_addr (127.0.0.1:port) and registry_pid.
bench_serve_registry() {
    local name=$1 root=$2
    registry_addr=127.0.0.1:$(free_port)
    registry_config "$root" "$registry_addr" skiff-bench >"$tmp/$name.yml"
    "${netns_exec[@]}" docker-registry serve "$tmp/$name.yml" >"$tmp/$name.log" 2>&1 </dev/null 3>&- &
    registry_pid=$!
    pids+=("$name:$registry_pid")
    for _ in $(seq 200); do
        in_netns curl -fsS "http://$registry_addr/v2/" >/dev/null 2>&1 && return 0
        kill -0 "$registry_pid" 2>/dev/null || break
        sleep 0.05
    done
    fail_with_log "$name" "$tmp/$name.log"
}

bench_registry() {
    cp -a "$fixtures/registry" "$tmp/registry" # also warms the page cache
    bench_serve_registry registry "$tmp/registry"
    mirror=http://$registry_addr
}

# bench_image_rounds IMAGE LAYERS: the start of the benches that move
# library/IMAGE of LAYERS layers (pull, push): checks ROUNDS (default 5),
# builds skiffd, starts the mirror registry and reads its schema2 manifest
# of the image into $tmp/manifest.json, which must list LAYERS layers. Sets
# IMAGE, LAYERS, root and blob_bytes (the layers' total size).
bench_image_rounds() {
    local nlayers
    IMAGE=$1
    LAYERS=$2
    ROUNDS=${ROUNDS:-5}
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
    bench_init curl
    root=$bench_root
    bench_fixtures
    bench_build_skiffd skiffd
    bench_registry
    in_netns curl -fsS "$mirror/v2/library/$IMAGE/manifests/latest" \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >"$tmp/manifest.json" 2>/dev/null ||
        fail_with_log registry "$tmp/registry.log"
    blob_bytes=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(l["size"] for l in m["layers"]))' "$tmp/manifest.json")
    nlayers=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["layers"]))' "$tmp/manifest.json")
    [ "$nlayers" = "$LAYERS" ] || die "library/$IMAGE has $nlayers layers, expected $LAYERS"
}

# ---------------------------------------------------------------- skiffd
bench_start_skiffd() {
    skiffd_sock=$tmp/skiffd.sock
    "${netns_exec[@]}" "$skiffd_bin" -H "unix://$skiffd_sock" --data-root "$tmp/skiffd-data" \
        --registry-mirror "$mirror" -l "$SKIFFD_LOG_LEVEL" >"$tmp/skiffd.log" 2>&1 </dev/null 3>&- &
    skiffd_pid=$!
    pids+=("skiffd:$skiffd_pid")
    wait_ping "$skiffd_pid" "$skiffd_sock" || fail_with_log skiffd "$tmp/skiffd.log"
}

# ------------------------------------------------- containerd + dockerd
# Our own containerd (so dockerd neither finds a system one on
# /run/containerd/containerd.sock nor supervises one we cannot see), in
# dockerd's namespaces (runc must see dockerd's rootfs mounts).
bench_start_containerd() {
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
    "${dockerns_exec[@]}" "$CONTAINERD" --config "$tmp/containerd/config.toml" >"$tmp/containerd.log" 2>&1 </dev/null 3>&- &
    ctr_pid=$!
    pids+=("containerd:$ctr_pid")
    for _ in $(seq 300); do
        [ -S "$ctr_sock" ] && return 0
        kill -0 "$ctr_pid" 2>/dev/null || fail_with_log containerd "$tmp/containerd.log"
        sleep 0.1
    done
    fail_with_log containerd "$tmp/containerd.log"
}

# start_dockerd DRIVER: starts dockerd with that storage driver; 0 if it answers.
# --bridge=none is safe only because dockerd runs in the run's network
# namespace: there it deletes no one's docker0.
# DOCKERD_NETWORK=1 (bench/network.sh): dockerd keeps its networking (its
# docker0, iptables rules, forwarding), all of it inside the run's namespace.
start_dockerd() {
    local driver=$1
    local net=(--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none)
    [ "${DOCKERD_NETWORK:-0}" = 1 ] && net=()
    rm -rf "$tmp/dockerd-data" "$tmp/dockerd-exec"
    "${dockerns_exec[@]}" "$DOCKERD" -H "unix://$dockerd_sock" \
        --config-file "$tmp/daemon.json" \
        --data-root "$tmp/dockerd-data" --exec-root "$tmp/dockerd-exec" \
        --pidfile "$tmp/dockerd.pid" \
        --cgroup-parent "/$(bench_dockerd_cgroup_parent "$tmp")" \
        --containerd "$ctr_sock" --containerd-namespace skiff-bench \
        --containerd-plugins-namespace skiff-bench-plugins \
        --registry-mirror "$mirror" \
        "${net[@]}" --storage-driver="$driver" >"$tmp/dockerd-$driver.log" 2>&1 </dev/null 3>&- &
    dockerd_pid=$!
    pids+=("dockerd:$dockerd_pid")
    if wait_ping "$dockerd_pid" "$dockerd_sock"; then
        return 0
    fi
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
    return 1
}

bench_start_dockerd() {
    bench_start_containerd
    dockerd_sock=$tmp/dockerd.sock
    # Our own daemon.json (not /etc/docker's); it also moves the trust key
    # dockerd 20.10 would otherwise create as /etc/docker/key.json.
    printf '{"deprecated-key-path": "%s"}\n' "$tmp/dockerd-key.json" >"$tmp/daemon.json"
    driver_note=""
    if [ -n "${STORAGE_DRIVER:-}" ]; then
        start_dockerd "$STORAGE_DRIVER" || fail_with_log "dockerd ($STORAGE_DRIVER)" "$tmp/dockerd-$STORAGE_DRIVER.log"
        return 0
    fi
    local started="" driver why
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
}

# ----------------------------------------------------------------- client
bench_client() {
    export DOCKER_CONFIG=$tmp/docker-cli # never the user's ~/.docker
    export DOCKER_CLI_HINTS=false
    mkdir -p "$DOCKER_CONFIG"
    unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_HOST
    declare -gA sock=([skiffd]=$skiffd_sock [dockerd]=$dockerd_sock)
    # shellcheck disable=SC2034 # the scripts' per-engine pids
    declare -gA pid=([skiffd]=$skiffd_pid [dockerd]=$dockerd_pid)
}
dk() { # dk ENGINE ARGS...
    local engine=$1
    shift
    DOCKER_HOST=unix://${sock[$engine]} "$DOCKER" "$@"
}

# ------------------------------------------------------------ /proc figures
# proc_cpu PID: utime+stime+cutime+cstime of PID in seconds.
proc_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13 + $14 + $15) / hz }' "/proc/$1/stat"
}
# proc_hwm PID / proc_rss PID: VmHWM / VmRSS in MiB.
proc_hwm() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
proc_rss() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# proc_pss PID: proportional set size in MiB (shared pages split between sharers).
proc_pss() { awk '/^Pss:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/smaps_rollup"; }

# ------------------------------------------------------ CPU accounting
# Each engine's daemons go into a CPU-accounting cgroup of their own (cpuacct
# on cgroup v1, the unified hierarchy on a pure v2 host); their children
# (shims, runc, youki) inherit it, the containers move to their own cgroups.
# So its usage is the engine's CPU, independent of the machine's load.

# bench_cpu_cgroup_base DIR: the bench's cgroup directory for temp dir DIR.
bench_cpu_cgroup_base() {
    local name=skiff-bench-${1##*/}
    if [ -d /sys/fs/cgroup/cpuacct ] && [ -e /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
        echo "/sys/fs/cgroup/cpuacct/$name"
    elif [ -e /sys/fs/cgroup/cgroup.controllers ]; then
        echo "/sys/fs/cgroup/$name"
    fi
}

# bench_cpu_cgroup NAME PID...: moves the processes into cgroup NAME; 1 if
# the host has no usable cgroup (the figures then read n/a).
bench_cpu_cgroup() {
    local name=$1 base p
    shift
    base=$(bench_cpu_cgroup_base "$tmp")
    [ -n "$base" ] || return 1
    mkdir -p "$base/$name" 2>/dev/null || return 1
    for p in "$@"; do echo "$p" >"$base/$name/cgroup.procs" 2>/dev/null || return 1; done
}

# bench_cpu_ms NAME: CPU time used so far in cgroup NAME, in ms (or n/a).
bench_cpu_ms() {
    local cg
    cg=$(bench_cpu_cgroup_base "$tmp")/$1
    if [ -r "$cg/cpuacct.usage" ]; then
        awk '{ printf "%.1f", $1 / 1e6 }' "$cg/cpuacct.usage"
    elif [ -r "$cg/cpu.stat" ]; then
        awk '$1 == "usage_usec" { printf "%.1f", $2 / 1e3 }' "$cg/cpu.stat"
    else
        echo n/a
    fi
}

# bench_cpu_cgroup_remove DIR: removes the (empty by now) cgroups of DIR's run.
bench_cpu_cgroup_remove() {
    local base cg p
    base=$(bench_cpu_cgroup_base "$1")
    [ -n "$base" ] && [ -d "$base" ] || return 0
    for cg in "$base"/*/; do
        [ -d "$cg" ] || continue
        # Whatever is still inside goes back to the root cgroup first.
        while read -r p; do
            echo "$p" >"${base%/*}/cgroup.procs"
        done <"$cg/cgroup.procs" 2>/dev/null
        rmdir "$cg" 2>/dev/null
    done
    rmdir "$base" 2>/dev/null
    return 0
}

# Statistics over whitespace-separated numbers on stdin.
# bench_side_by_side TOOL...: the usual start of a skiffd-vs-dockerd bench:
# bench_init (with TOOLs), the fixtures, skiffd (built unless $SKIFFD), the
# mirror registry, both engines, the client. With DOCKERD_NETWORK=1 dockerd
# starts first: its docker0 takes 172.17.0.0/16 at once, and skiffd's IPAM
# then skips that pool for its own bridge (as on a host whose dockerd
# started at boot), so both engines' containers are reachable.
bench_side_by_side() {
    bench_init "$@"
    bench_fixtures
    bench_build_skiffd skiffd skiff-shim
    bench_registry
    if [ "${DOCKERD_NETWORK:-0}" = 1 ]; then
        bench_start_dockerd
        bench_start_skiffd
    else
        bench_start_skiffd
        bench_start_dockerd
    fi
    bench_client
}

# bench_ratio A B: A / B with three decimals, "-" when B is 0.
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }

# bench_series WARMUP RUNS ARGS...: WARMUP + RUNS rounds of `docker ARGS`
# against each engine of ${engines[@]}, interleaved; sets
# series_median[ENGINE] to the median wall ms of the last RUNS.
bench_series() {
    local warmup=$1 runs=$2 i e t0 t1
    shift 2
    declare -gA series_median=()
    declare -A got=()
    for ((i = 0; i < warmup + runs; i++)); do
        for e in "${engines[@]}"; do
            t0=${EPOCHREALTIME/./}
            dk "$e" "$@" >/dev/null || die "$e: docker $* failed"
            t1=${EPOCHREALTIME/./}
            ((i < warmup)) || got[$e]+=" $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')"
        done
    done
    for e in "${engines[@]}"; do series_median[$e]=$(median <<<"${got[$e]}"); done
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
max() { tr ' ' '\n' | grep . | sort -g | tail -n1; }

# ------------------------------------------- rounds: skiffd vs dockerd
# For the benches that time one operation per engine and round (pull,
# push): `bench_rounds OP [CHECK]` prints the table, OP timing with
# `bench_timed`; then `bench_rounds_summary` and, last, `bench_rounds_verdict`.

# bench_timed ENGINE ROUND LOG MSG ARGS...: runs `docker ARGS` against
# ENGINE, its output in LOG; if it fails, shows LOG and dies with
# "ENGINE: MSG". Records the wall time (s), the daemon's CPU time (s) and
# its peak RSS during the command (MiB) as times/cpus/hwms[ENGINE,ROUND].
bench_timed() {
    local engine=$1 round=$2 log=$3 msg=$4 p=${pid[$1]} t0 t1 c0 c1
    shift 4
    # Peak RSS of this command only: clear_refs 5 resets VmHWM to the current RSS.
    echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true
    c0=$(proc_cpu "$p")
    t0=$(date +%s.%N)
    if ! dk "$engine" "$@" >"$log" 2>&1; then
        cat "$log" >&3
        die "$engine: $msg"
    fi
    t1=$(date +%s.%N)
    c1=$(proc_cpu "$p")
    hwms[$engine,$round]=$(proc_hwm "$p")
    times[$engine,$round]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    cpus[$engine,$round]=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
}

# bench_rounds OP [CHECK]: ROUNDS rounds, skiffd first in odd ones, dockerd
# in even ones: `OP ENGINE ROUND` for each engine, then `CHECK ROUND` if
# given, then the round's row of the table (printed with its header).
bench_rounds() {
    local r engine order
    declare -gA times cpus hwms
    printf '%-5s  %-7s  %9s %8s %9s  %9s %8s %9s  %6s\n' round first 'skiffd s' 'cpu s' 'peak MiB' \
        'dockerd s' 'cpu s' 'peak MiB' ratio
    for ((r = 1; r <= ROUNDS; r++)); do
        if ((r % 2)); then order=(skiffd dockerd); else order=(dockerd skiffd); fi
        for engine in "${order[@]}"; do "$1" "$engine" "$r"; done
        [ -z "${2:-}" ] || "$2" "$r"
        printf '%-5s  %-7s  %9.2f %8s %9s  %9.2f %8s %9s  %6.2f\n' "$r" "${order[0]}" \
            "${times[skiffd,$r]}" "${cpus[skiffd,$r]}" "${hwms[skiffd,$r]}" \
            "${times[dockerd,$r]}" "${cpus[dockerd,$r]}" "${hwms[dockerd,$r]}" \
            "$(awk -v a="${times[skiffd,$r]}" -v b="${times[dockerd,$r]}" 'BEGIN { print a / b }')"
    done
}

# bench_col ARRAY ENGINE: ENGINE's values of every round in ARRAY.
bench_col() {
    local -n arr=$1
    local r out=""
    for ((r = 1; r <= ROUNDS; r++)); do out+="${arr[$2,$r]} "; done
    echo "$out"
}

# bench_rounds_summary: the table's last row and a blank line. Sets ms, md
# (median wall s of skiffd, dockerd), cs, cd_ (median CPU s), hs, hd (max
# peak RSS MiB) and ratio (ms / md).
bench_rounds_summary() {
    ms=$(bench_col times skiffd | median)
    md=$(bench_col times dockerd | median)
    cs=$(bench_col cpus skiffd | median)
    cd_=$(bench_col cpus dockerd | median)
    hs=$(bench_col hwms skiffd | max)
    hd=$(bench_col hwms dockerd | max)
    ratio=$(awk -v a="$ms" -v b="$md" 'BEGIN { printf "%.2f", a / b }')
    printf '%-5s  %-7s  %9.2f %8.2f %9s  %9.2f %8.2f %9s  %6.2f\n' median '' "$ms" "$cs" "max $hs" "$md" "$cd_" "max $hd" "$ratio"
    echo
}

# bench_rounds_verdict: the load average now and the medians' verdict
# (target ratio <= 0.50).
bench_rounds_verdict() {
    local verdict
    printf 'load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 0.5) ? "met" : "NOT met" }')
    printf 'median skiffd %.2fs  dockerd %.2fs  ratio %s (target ≤ 0.50: %s)\n' "$ms" "$md" "$ratio" "$verdict"
}
