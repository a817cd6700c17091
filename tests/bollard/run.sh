#!/usr/bin/env bash
# Runs bollard 0.21.1's own integration tests (the `tests/` its crate ships)
# against skiffd, offline, and prints which pass.
#
#   tests/bollard/run.sh [--mode mirror|registry|both] [--results FILE]
#                        [--skiffd BIN] [--fixtures DIR] [--timeout SECS]
#                        [--filter REGEX] [--docker-host unix://PATH]
#                        [--registry-port PORT] [--keep]
#
# What it does:
#  1. copies bollard's source from the cargo registry into
#     <target>/bollard-suite/src (never into git) and builds the test
#     binaries of BINARIES below with `cargo test --no-run` into
#     <target>/bollard-suite/target (its own Cargo.lock, its own target dir);
#  2. starts a docker-registry on 127.0.0.1 over a copy of the fixture seed
#     (tests/fixtures/build-images.sh, shared with the e2e harness's cache)
#     and adds the names bollard's tests pull (skopeo copies):
#       library/hello-world:linux, hello-world:linux          <- hello-world
#       library/alpine:latest, alpine:latest                    <- busybox
#       fussybeaver/uhttpd:latest    <- busybox + /usr/sbin/run_uhttpd and
#                                       /etc/config/uhttpd (built with umoci)
#  3. for each mode starts a fresh skiffd (`--registry-mirror` = that
#     registry) and runs every test of every binary on its own
#     (`BIN --exact NAME --test-threads=1`, under `timeout`):
#       mirror    DISABLE_REGISTRY=1: images are `hello-world:linux`,
#                 `alpine`, … (docker.io names, served by the mirror)
#       registry  REGISTRY_HTTP_ADDR=localhost:PORT, the way bollard's own CI
#                 runs them: images are `localhost:PORT/hello-world:linux`, …
#                 (plain HTTP: loopback registries are insecure by default)
#     The tests run in a private mount namespace (unshare -m) where /run
#     (= /var/run) holds only docker.sock, a link to the daemon's socket, so that
#     `test_downversioning`, which hard-codes unix:///var/run/docker.sock,
#     reaches skiffd too; DOCKER_HOST=unix:///var/run/docker.sock.
#  4. prints one line per (mode, test): PASS, FAIL or TIMEOUT, and for the
#     tests that cannot apply to skiffd yet, why (`n/a: …`);
#     writes the same as TSV to --results FILE (mode, test, outcome, secs,
#     note). The panic of each applicable test that did not pass goes to
#     stderr (full logs: <tmp>/<mode>/logs/, kept with --keep).
#
# Exit status: 0 when it ran (whatever the tests did), non-zero when the
# setup failed. tests/tests/bollard_suite.rs decides what must pass.
#
# --docker-host: use an already running daemon (e.g. a reference dockerd)
# instead of starting skiffd, for every mode; give --registry-port too and
# start that daemon with `--registry-mirror http://127.0.0.1:PORT` beforehand.
# After every test that does not pass, all the daemon's containers are
# force-removed (a failed test leaves its own): use a private daemon.
#
# Needs: cargo, docker-registry, skopeo, umoci, python3, curl, util-linux (unshare,
# flock), coreutils (timeout) and what build-images.sh needs.
set -euo pipefail

# The whole run (the registry, skiffd with its bridges, nftables table and
# published ports, the bollard tests) happens in a network namespace of its
# own with loopback up, so nothing reaches the host's (issue 18): the tests
# reach skiffd by its Unix socket and the registry on the namespace's
# 127.0.0.1. --docker-host runs against a daemon outside, so it stays.
if [ -z "${SKIFF_BOLLARD_NETNS:-}" ] && [[ " $* " != *" --docker-host "* ]]; then
    export SKIFF_BOLLARD_NETNS=1
    exec unshare --net -- bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi

BOLLARD_VERSION=0.21.1
# Test binaries (tests/<name>.rs of the bollard crate) built and run.
BINARIES=(image_test system_test version_test distribution race_test container_test exec_test volume_test)
# Features: `time` compiles integration_test_events_until_forever,
# `test_websocket` integration_test_attach_container_websocket.
FEATURES=time,test_websocket

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
suite=$target/bollard-suite

mode=both
results=""
skiffd_bin=${SKIFFD_BIN:-$target/debug/skiffd}
fixtures=""
timeout_secs=${BOLLARD_TEST_TIMEOUT:-60}
filter=""
docker_host=""
registry_port=""
keep=0

usage() {
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
        --mode) mode=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        --skiffd) skiffd_bin=$2; shift 2 ;;
        --fixtures) fixtures=$2; shift 2 ;;
        --timeout) timeout_secs=$2; shift 2 ;;
        --filter) filter=$2; shift 2 ;;
        --docker-host) docker_host=$2; shift 2 ;;
        --registry-port) registry_port=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h | --help) usage ;;
        *) echo "run.sh: unknown argument $1" >&2; usage ;;
    esac
done
case $mode in
    mirror) modes=(mirror) ;;
    registry) modes=(registry) ;;
    both) modes=(mirror registry) ;;
    *) echo "run.sh: --mode must be mirror, registry or both" >&2; exit 2 ;;
esac
if [ -n "$docker_host" ] && [ -z "$registry_port" ]; then
    echo "run.sh: --docker-host needs --registry-port" >&2
    exit 2
fi

# Why a test cannot apply to skiffd (offline, without some APIs). Tests
# not named here are expected to work against any Docker-compatible engine.
na_reason() {
    case $1 in
        image_test::integration_test_search_images)
            echo "needs Docker Hub's search index (GET /images/search queries index.docker.io's v1 search API; offline, and docker-registry has no search)" ;;
        image_test::integration_test_issue_55)
            echo "#[ignore] upstream (flaky); builds ubuntu:24.04 with apt-get from the Internet" ;;
        container_test::integration_test_image_push)
            # run_one's $mode: in registry mode it pushes to the run's registry.
            [ "${mode:-}" = mirror ] || return 1
            echo "in mirror mode it pushes my-hello-world to Docker Hub (offline here); registry mode pushes to the run's registry" ;;
        *) return 1 ;;
    esac
}

log() { echo "bollard-suite: $*" >&2; }
die() { echo "bollard-suite: error: $*" >&2; exit 1; }

for tool in cargo docker-registry skopeo umoci python3 curl unshare flock timeout; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh)"
done

started=$(date +%s)
mkdir -p "$suite"

# --------------------------------------------------------------- sources
cargo_home=${CARGO_HOME:-$HOME/.cargo}
find_source() {
    local d
    for d in "$cargo_home"/registry/src/*/bollard-"$BOLLARD_VERSION"; do
        [ -f "$d/Cargo.toml" ] && [ -d "$d/tests" ] && { echo "$d"; return 0; }
    done
    return 1
}
src_dir=$(find_source) || {
    log "fetching bollard $BOLLARD_VERSION (cargo fetch in the workspace)"
    (cd "$root" && cargo fetch --locked >&2)
    src_dir=$(find_source) || die "bollard-$BOLLARD_VERSION not in $cargo_home/registry/src"
}
copy=$suite/src
stamp="$src_dir $BOLLARD_VERSION"
if [ "$(cat "$copy/.skiff-source" 2>/dev/null)" != "$stamp" ]; then
    log "copying $src_dir to $copy"
    rm -rf "$copy"
    cp -a "$src_dir" "$copy"
    chmod -R u+w "$copy"
    # Not a member of the skiff workspace that encloses target/.
    printf '\n[workspace]\n' >>"$copy/Cargo.toml"
    echo "$stamp" >"$copy/.skiff-source"
fi

# ----------------------------------------------------------------- build
build_start=$(date +%s)
log "building bollard's test binaries (${BINARIES[*]}) into $suite/target"
test_args=()
for b in "${BINARIES[@]}"; do test_args+=(--test "$b"); done
build_json=$suite/build.json
if ! (cd "$copy" && CARGO_TARGET_DIR=$suite/target CARGO_PROFILE_DEV_DEBUG=0 \
    cargo test --locked --features "$FEATURES" --no-run --message-format=json-render-diagnostics \
    "${test_args[@]}" >"$build_json" 2>"$suite/build.log"); then
    tail -n 40 "$suite/build.log" >&2
    die "building bollard's tests failed (log: $suite/build.log)"
fi
build_secs=$(($(date +%s) - build_start))
declare -A exe
while IFS=$'\t' read -r name path; do
    exe[$name]=$path
done < <(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "test" in m["target"]["kind"]:
        print(m["target"]["name"] + "\t" + m["executable"])
' "$build_json")
for b in "${BINARIES[@]}"; do
    [ -n "${exe[$b]:-}" ] || die "no executable for $b in $build_json"
done
log "built in ${build_secs}s"

# ------------------------------------------------------------- fixtures
if [ -z "$fixtures" ]; then
    # The e2e harness's cache: <target>/skiff-fixtures/<hash of tests/fixtures>
    # (same hash as tests/src/fixtures.rs: name, NUL, u64-LE length, content
    # of every file but *.md, sorted; first 8 bytes in hex).
    key=$(python3 -c '
import hashlib, os, struct, sys
src = sys.argv[1]
h = hashlib.sha256()
for name in sorted(os.listdir(src)):
    p = os.path.join(src, name)
    if not os.path.isfile(p) or name.endswith(".md") and name != ".md":
        continue
    data = open(p, "rb").read()
    h.update(name.encode() + b"\0" + struct.pack("<Q", len(data)) + data)
print(h.hexdigest()[:16])
' "$root/tests/fixtures")
    cache=${SKIFF_FIXTURES_CACHE:-$target/skiff-fixtures}
    fixtures=$cache/$key
    if [ ! -e "$fixtures/.complete" ]; then
        mkdir -p "$cache"
        exec 9>"$cache/$key.lock"
        flock 9
        if [ ! -e "$fixtures/.complete" ]; then
            log "building the fixture images into $fixtures"
            staging=$cache/$key.tmp-$$
            rm -rf "$staging"
            bash "$root/tests/fixtures/build-images.sh" "$staging" >&2 || die "build-images.sh failed"
            touch "$staging/.complete"
            rm -rf "$fixtures"
            mv "$staging" "$fixtures"
        fi
        exec 9>&-
    fi
fi
[ -d "$fixtures/registry/docker/registry/v2" ] || die "no registry seed in $fixtures"

# ------------------------------------------------------------- processes
tmp=$(mktemp -d "${SKIFF_TEST_TMPDIR:-/tmp}/bollard-XXXXXX")
pids=()
# remove_containers SOCK: force-removes every container of the daemon at
# SOCK. A test that fails midway leaves its container running, and skiffd
# leaves containers running when it stops: their mounts under $tmp would
# outlive the run.
remove_containers() {
    local ids id
    ids=$(curl -fsS --max-time 10 --unix-socket "$1" 'http://d/containers/json?all=1' 2>/dev/null |
        python3 -c 'import json, sys; print("\n".join(c["Id"] for c in json.load(sys.stdin)))' 2>/dev/null) || return 0
    for id in $ids; do
        curl -fsS --max-time 30 -X DELETE --unix-socket "$1" "http://d/containers/$id?force=1" >/dev/null 2>&1 ||
            log "warning: could not remove container $id"
    done
}
cleanup() {
    local pid
    if [ -z "$docker_host" ] && [ -n "${sock_dir:-}" ] && [ -S "$sock_dir/docker.sock" ]; then
        remove_containers "$sock_dir/docker.sock"
    fi
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "$keep" = 1 ]; then
        log "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Registry: a copy of the seed (blobs hard-linked, metadata copied).
reg_root=$tmp/registry
v2=docker/registry/v2
mkdir -p "$reg_root/storage/$v2"
cp -al "$fixtures/registry/$v2/blobs" "$reg_root/storage/$v2/blobs" 2>/dev/null ||
    cp -a "$fixtures/registry/$v2/blobs" "$reg_root/storage/$v2/blobs"
cp -a "$fixtures/registry/$v2/repositories" "$reg_root/storage/$v2/repositories"
port=${registry_port:-$(free_port)}
cat >"$reg_root/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $reg_root/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: skiff-bollard
EOF
docker-registry serve "$reg_root/config.yml" >"$reg_root/registry.log" 2>&1 &
pids+=($!)
reg_pid=$!
for _ in $(seq 300); do
    curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
    kill -0 "$reg_pid" 2>/dev/null || break
    sleep 0.05
done
curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 || {
    tail -n 20 "$reg_root/registry.log" >&2
    die "docker-registry did not start on 127.0.0.1:$port"
}
log "registry on 127.0.0.1:$port"

echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$tmp/policy.json"
retag() {
    skopeo --policy "$tmp/policy.json" copy -q --src-tls-verify=false --dest-tls-verify=false \
        "docker://127.0.0.1:$port/$1" "docker://127.0.0.1:$port/$2" >>"$tmp/skopeo.log" 2>&1 ||
        { tail -n 20 "$tmp/skopeo.log" >&2; die "skopeo copy $1 $2 failed"; }
}
retag library/hello-world:latest library/hello-world:linux
retag library/hello-world:latest hello-world:linux
retag library/busybox:latest library/alpine:latest
retag library/busybox:latest alpine:latest

# fussybeaver/uhttpd: busybox plus the two files bollard's create_daemon and
# exec tests use: /usr/sbin/run_uhttpd (the command; here it serves nothing
# and runs until SIGTERM/SIGINT/SIGKILL) and /etc/config/uhttpd (exec_test
# cats it and wants "config uhttpd main" on its second line).
build_uhttpd() {
    local oci=$tmp/uhttpd-oci layer=$tmp/uhttpd-layer.tar
    skopeo --policy "$tmp/policy.json" copy -q --src-tls-verify=false \
        "docker://127.0.0.1:$port/library/busybox:latest" "oci:$oci:uhttpd" >>"$tmp/skopeo.log" 2>&1 || return 1
    python3 - "$layer" <<'PY' || return 1
import io, sys, tarfile
files = {
    "usr/sbin/run_uhttpd": (0o755, "#!/bin/sh\n# skiff stand-in for uhttpd: runs until stopped.\n"
                            "trap 'exit 0' TERM INT\nsleep 2147483647 &\nwait $!\n"),
    "etc/config/uhttpd": (0o644, "# uhttpd configuration (skiff stand-in)\nconfig uhttpd main\n"
                          "\tlist listen_http 0.0.0.0:80\n\toption home /www\n"),
    "www/index.html": (0o644, "hello from skiff\n"),
}
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tar:
    for d in ("etc", "etc/config", "usr", "usr/sbin", "www"):
        info = tarfile.TarInfo(d)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1704067200
        tar.addfile(info)
    for name, (mode, text) in files.items():
        data = text.encode()
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), mode, 1704067200
        tar.addfile(info, io.BytesIO(data))
PY
    umoci raw add-layer --image "$oci:uhttpd" --history.created 2024-01-01T00:00:00Z \
        --history.created_by "ADD uhttpd-layer.tar /" "$layer" >>"$tmp/skopeo.log" 2>&1 || return 1
    umoci config --image "$oci:uhttpd" --no-history --created 2024-01-01T00:00:00Z \
        --config.cmd /usr/sbin/run_uhttpd >>"$tmp/skopeo.log" 2>&1 || return 1
    skopeo --policy "$tmp/policy.json" copy -q --format v2s2 --dest-tls-verify=false \
        "oci:$oci:uhttpd" "docker://127.0.0.1:$port/fussybeaver/uhttpd:latest" >>"$tmp/skopeo.log" 2>&1
}
build_uhttpd || { tail -n 20 "$tmp/skopeo.log" >&2; die "building fussybeaver/uhttpd failed"; }

# skiffd: one fresh daemon per mode; sets $sock_dir.
start_skiffd() {
    local name=$1 dir=$tmp/$1
    sock_dir=$dir/run
    mkdir -p "$sock_dir" "$dir/data"
    if [ ! -x "$skiffd_bin" ]; then
        log "building skiffd"
        (cd "$root" && cargo build -p skiffd >&2)
    fi
    "$skiffd_bin" -H "unix://$sock_dir/docker.sock" --data-root "$dir/data" \
        --registry-mirror "http://127.0.0.1:$port" >"$dir/skiffd.log" 2>&1 &
    pids+=($!)
    local pid=$!
    for _ in $(seq 600); do
        [ "$(curl -fsS --unix-socket "$sock_dir/docker.sock" http://d/_ping 2>/dev/null)" = OK ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    tail -n 30 "$dir/skiffd.log" >&2
    die "skiffd ($name) did not answer /_ping"
}

# Mount namespaces: when unavailable, DOCKER_HOST points at the socket and
# test_downversioning (hard-coded /var/run/docker.sock) cannot reach skiffd.
use_ns=0
if unshare -m --propagation private true 2>/dev/null; then
    use_ns=1
else
    log "warning: unshare -m failed; test_downversioning will not reach skiffd"
fi

# run_one MODE BIN TEST: runs one test; appends a result row.
rows=()
failed_logs=()
run_one() {
    local mode=$1 bin=$2 test=$3 out rc t0 secs outcome note
    out=$tmp/$mode/logs/$bin.$test.log
    mkdir -p "$(dirname "$out")"
    local env=(RUST_BACKTRACE=0)
    case $mode in
        mirror) env+=(DISABLE_REGISTRY=1) ;;
        registry) env+=(REGISTRY_HTTP_ADDR="localhost:$port") ;;
    esac
    t0=$(date +%s.%N)
    set +e
    if [ "$use_ns" = 1 ]; then
        # /run is $ns_run here: /var/run/docker.sock links to the socket.
        # shellcheck disable=SC2016
        unshare -m --propagation private sh -c 'mount --bind "$0" /run && exec "$@"' "$ns_run" \
            env "${env[@]}" DOCKER_HOST=unix:///var/run/docker.sock \
            timeout -k 5 "$timeout_secs" "${exe[$bin]}" --exact "$test" --test-threads=1 >"$out" 2>&1
    else
        env "${env[@]}" DOCKER_HOST="$host" \
            timeout -k 5 "$timeout_secs" "${exe[$bin]}" --exact "$test" --test-threads=1 >"$out" 2>&1
    fi
    rc=$?
    set -e
    secs=$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)")
    if [ $rc -eq 0 ] && grep -q '^test result: ok. 1 passed' "$out"; then
        outcome=PASS
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        outcome=TIMEOUT
    else
        outcome=FAIL
    fi
    note=""
    if reason=$(na_reason "$bin::$test"); then
        note="n/a: $reason"
    elif [ "$outcome" != PASS ]; then
        failed_logs+=("$mode $bin::$test|$out")
    fi
    # A test that did not pass may have left its container (running):
    # removed so that later tests (prune_containers) start clean.
    if [ "$outcome" != PASS ]; then
        case $host in unix://*) remove_containers "${host#unix://}" ;; esac
    fi
    rows+=("$mode	$bin::$test	$outcome	$secs	$note")
    printf '  %-8s %-7s %5ss  %s::%s%s\n' "$mode" "$outcome" "$secs" "$bin" "$test" "${note:+  ($note)}" >&2
}

for m in "${modes[@]}"; do
    if [ -n "$docker_host" ]; then
        host=$docker_host
    else
        start_skiffd "$m"
        host=unix://$sock_dir/docker.sock
    fi
    ns_run=$tmp/$m/nsrun
    mkdir -p "$ns_run"
    case $host in
        unix://*) ln -sfn "${host#unix://}" "$ns_run/docker.sock" ;;
        *) use_ns=0 ;;
    esac
    log "mode $m: running tests (timeout ${timeout_secs}s each)"
    for b in "${BINARIES[@]}"; do
        mapfile -t all < <("${exe[$b]}" --list 2>/dev/null | sed -n 's/: test$//p')
        mapfile -t ignored < <("${exe[$b]}" --list --ignored 2>/dev/null | sed -n 's/: test$//p')
        # Applicable tests first, so that the others cannot disturb them.
        ordered=()
        for t in "${all[@]}"; do na_reason "$b::$t" >/dev/null || ordered+=("$t"); done
        for t in "${all[@]}"; do na_reason "$b::$t" >/dev/null && ordered+=("$t"); done
        for t in "${ordered[@]}"; do
            [ -z "$filter" ] || [[ "$b::$t" =~ $filter ]] || continue
            if printf '%s\n' "${ignored[@]}" | grep -qxF "$t"; then
                note="n/a: $(na_reason "$b::$t" || echo '#[ignore] upstream')"
                rows+=("$m	$b::$t	SKIP	0	$note")
                printf '  %-8s %-7s %5ss  %s::%s  (%s)\n' "$m" SKIP 0 "$b" "$t" "$note" >&2
                continue
            fi
            run_one "$m" "$b" "$t"
        done
    done
    if [ -z "$docker_host" ]; then
        state=$(ps -o stat= -p "${pids[-1]}" 2>/dev/null || true)
        if [ -z "$state" ] || [[ $state == Z* ]]; then
            log "warning: skiffd ($m) exited during the tests; its log ends with:"
            tail -n 30 "$tmp/$m/skiffd.log" >&2
        fi
        remove_containers "$sock_dir/docker.sock"
        # Stop this mode's daemon now (cleanup() waits for it too).
        kill "${pids[-1]}" 2>/dev/null || true
        wait "${pids[-1]}" 2>/dev/null || true
    fi
done

# --------------------------------------------------------------- report
# What the applicable tests that did not pass printed (their panic).
for entry in "${failed_logs[@]}"; do
    label=${entry%%|*}
    file=${entry#*|}
    echo "----- $label -----" >&2
    excerpt=$(sed -n '/^---- .* stdout ----$/,/^failures:$/p' "$file" | grep -v '^\(failures:\)\?$' | head -n 20 || true)
    [ -n "$excerpt" ] || excerpt=$(grep -v '^\s*$' "$file" | tail -n 10 || true)
    printf '%s\n' "$excerpt" >&2
done
echo
echo "bollard $BOLLARD_VERSION integration tests against ${docker_host:-skiffd} (unshare: $use_ns)"
printf '%-9s %-62s %-8s %6s  %s\n' MODE TEST RESULT SECS NOTE
n_pass=0 n_fail=0 n_na=0
for row in "${rows[@]}"; do
    IFS=$'\t' read -r m t o s note <<<"$row"
    printf '%-9s %-62s %-8s %6s  %s\n' "$m" "$t" "$o" "$s" "$note"
    if [[ $note == n/a:* ]]; then
        n_na=$((n_na + 1))
    elif [ "$o" = PASS ]; then
        n_pass=$((n_pass + 1))
    else
        n_fail=$((n_fail + 1))
    fi
done
total=$(($(date +%s) - started))
echo "bollard suite: applicable PASS $n_pass / not passing $n_fail / n/a $n_na; build ${build_secs}s, total ${total}s"
if [ -n "$results" ]; then
    mkdir -p "$(dirname "$results")"
    {
        printf '# build_secs=%s total_secs=%s unshare=%s\n' "$build_secs" "$total" "$use_ns"
        printf '%s\n' "${rows[@]}"
    } >"$results"
fi
