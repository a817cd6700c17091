#!/usr/bin/env bash
# Host-state guard: tests and benchmarks must leave the host as they found it.
#
#   scripts/host-guard.sh run [--report-only] -- CMD [ARG...]
#       snapshot, run CMD, snapshot again, compare. CMD runs under a child
#       subreaper, so whatever it daemonised and left running is found.
#       Exit status: CMD's when it failed, else 1 when the host differs.
#   scripts/host-guard.sh snapshot DIR [BEFORE]
#       write a snapshot into DIR (with BEFORE, an earlier snapshot: also the
#       processes started since then and still alive)
#   scripts/host-guard.sh compare BEFORE AFTER
#       print the differences; 1 if any is neither allowed nor a note.
#   scripts/host-guard.sh selftest
#       checks that `run` catches a leaked /tmp file and a leaked daemon
#       (and cleans both up).
#
# What a snapshot holds (one normalised, sorted file per aspect, so a plain
# line diff is the answer; counters, lifetimes, pids and ephemeral ports are
# removed, so two snapshots of an idle host are identical):
#   link      ip -o -d link (one line per interface)
#   addr      ip -o addr (address lifetimes removed)
#   route4/6  ip -4/-6 route show table all ("expires Ns" removed)
#   nft       nft -s list ruleset, each line prefixed by its table/chain
#   iptables  iptables-save / ip6tables-save (and the legacy ones when legacy
#             tables exist), counters and comments removed, table-prefixed
#   sysctl    forwarding, route_localnet, bridge-nf-call-* (host-wide knobs)
#   mounts    /proc/self/mounts (source, mount point, type, options)
#   cgroups   every directory of every cgroup hierarchy (v1 and v2)
#   netns     `ip netns list` and the distinct network namespaces of live
#             processes (by inode; the diff names the processes inside)
#   listen    ss -ltnupH: protocol, address, port (ports from the ephemeral
#             range read "ephemeral"), process names
#   files     /tmp (depth 2), /run (depth 3), /etc (depth 2), /var/lib
#             (depth 1): type and path
#   processes processes started after the first snapshot and still alive
#             (the guard's own excluded); those CMD left behind are marked
#   modules   /proc/modules names (a note: a loaded module is not a leak)
#
# The allow-list (scripts/host-guard.allow, plus the file named by
# $SKIFF_HOST_GUARD_ALLOW if set) has lines `allow ASPECT ERE` (the change is
# expected: not shown) or `note ASPECT ERE` (shown, does not fail), matched
# against a changed line without its +/- sign. `#` starts a comment.
#
# Environment: SKIFF_HOST_GUARD_ALLOW=file, SKIFF_HOST_GUARD_KEEP=1 (keep the
# snapshot dir of `run` even when nothing differs).
set -euo pipefail
export LC_ALL=C PATH=$PATH:/usr/sbin:/sbin

guard_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
aspects=(link addr route4 route6 nft iptables sysctl mounts cgroups netns listen files processes modules)

die() {
    echo "host-guard: $*" >&2
    exit 2
}
have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- snapshot
snap_link() { ip -o -d link show | sed -E 's/\\ +/ /g; s/ +$//'; }
snap_addr() {
    ip -o addr show | sed -E 's/\\ +/ /g; s/ *valid_lft [^ ]+//; s/ *preferred_lft [^ ]+//; s/ +$//'
}
snap_route() {
    ip "-$1" route show table all 2>/dev/null | sed -E 's/ expires [0-9]+sec//; s/ +$//'
}
# Rules as "table X / chain Y: rule" lines (sets and maps likewise).
snap_nft() {
    have nft || {
        echo "(nft not installed)"
        return
    }
    nft -s list ruleset 2>&1 | awk '
        /^table / { t = $2 " " $3; sub(/ *\{ *$/, "", t); obj = ""; print "table " t; next }
        /^\t(chain|set|map|flowtable) / { o = $0; sub(/^\t/, "", o); sub(/ *\{ *$/, "", o); obj = o; print "table " t " / " obj; next }
        /^[\t ]*\}?[\t ]*$/ { next }
        { l = $0; sub(/^[\t ]+/, "", l); print "table " t (obj == "" ? "" : " / " obj) ": " l }'
}
snap_iptables() {
    local tool
    for tool in iptables-save ip6tables-save; do
        have "$tool" || continue
        "$tool" 2>/dev/null | awk -v tool="$tool" '
            /^#/ { next }
            /^\*/ { t = substr($0, 2); next }
            /^COMMIT/ { next }
            /^:/ { sub(/ \[[0-9]+:[0-9]+\]$/, "") }
            { print tool " " t ": " $0 }'
    done
    # Legacy tables only when they exist (listing them must not load modules).
    if [ -s /proc/net/ip_tables_names ] && have iptables-legacy-save; then
        iptables-legacy-save 2>/dev/null | sed -E '/^#/d; s/ \[[0-9]+:[0-9]+\]$//; s/^/legacy: /'
    fi
    if [ -s /proc/net/ip6_tables_names ] && have ip6tables-legacy-save; then
        ip6tables-legacy-save 2>/dev/null | sed -E '/^#/d; s/ \[[0-9]+:[0-9]+\]$//; s/^/legacy6: /'
    fi
}
snap_sysctl() {
    local k
    for k in net/ipv4/ip_forward net/ipv4/conf/all/forwarding net/ipv4/conf/all/route_localnet \
        net/ipv6/conf/all/forwarding net/ipv6/conf/default/forwarding \
        net/bridge/bridge-nf-call-iptables net/bridge/bridge-nf-call-ip6tables \
        net/ipv4/ip_unprivileged_port_start; do
        [ -r "/proc/sys/$k" ] && echo "$k = $(tr '\t' ' ' <"/proc/sys/$k")"
    done
    return 0
}
snap_mounts() { awk '{ print $1, $2, $3, $4 }' /proc/self/mounts; }
snap_cgroups() {
    local mp
    while read -r mp; do
        find "$mp" -mindepth 1 -type d -printf "$mp/%P\n" 2>/dev/null || true
    done < <(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts | sort -u)
}
snap_listen() {
    local lo hi
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
    ss -ltnupH 2>/dev/null | awk -v lo="$lo" -v hi="$hi" '{
        addr = $5; port = addr; sub(/.*:/, "", port); sub(/:[^:]*$/, "", addr)
        if (port ~ /^[0-9]+$/ && port + 0 >= lo && port + 0 <= hi) port = "ephemeral"
        procs = ""
        rest = $0
        while (match(rest, /\("[^"]*"/)) {
            name = substr(rest, RSTART + 2, RLENGTH - 3)
            if (index(" " procs " ", " " name " ") == 0) procs = procs (procs == "" ? "" : " ") name
            rest = substr(rest, RSTART + RLENGTH)
        }
        print $1, addr ":" port, procs
    }'
}
# /tmp (depth 2), /run (depth 3), /etc (depth 2: e.g. a dockerd writing
# /etc/docker/key.json) and /var/lib (depth 1: default data roots); the
# guard's own snapshot dirs and the checkout it tests (wherever it is cloned:
# its target/ and node_modules/ are the build's, not the host's) excluded.
guard_checkout=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
snap_files() {
    {
        find /tmp -mindepth 1 -maxdepth 2 -printf '%y %p\n' 2>/dev/null | grep -v ' /tmp/skiff-host-guard\.' || true
        find /run -mindepth 1 -maxdepth 3 -printf '%y %p\n' 2>/dev/null || true
        find /etc -mindepth 1 -maxdepth 2 -printf '%y %p\n' 2>/dev/null || true
        find /var/lib -mindepth 1 -maxdepth 1 -printf '%y %p\n' 2>/dev/null || true
    } | awk -v c="$guard_checkout" '{ p = substr($0, 3) } p != c && index(p, c "/") != 1'
}
snap_modules() { awk '{ print $1 }' /proc/modules 2>/dev/null || true; }

# procs_py MODE ARGS: the process-table parts, in python (one pass over /proc).
#   netns EXCLUDE_PID           -> "net:[inode]" lines, then on fd 3 "inode comm pid"
#   new EXCLUDE_PID SINCE LEFT  -> "comm: cmdline" of processes started after
#                                  tick SINCE, "[left by the run]" if in LEFT
#   ticks                       -> the current uptime in clock ticks
procs_py() {
    python3 - "$@" <<'PY'
import os, sys

def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1 : s.rindex(")")]
    rest = s[s.rindex(")") + 2 :].split()
    return {"comm": comm, "ppid": int(rest[1]), "start": int(rest[19])}

def table():
    t = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = stat(d)
            if st:
                t[int(d)] = st
    return t

def excluded(t, root):
    """root and its descendants (the guard and what it runs to snapshot)."""
    out, todo = {root}, [root]
    kids = {}
    for pid, st in t.items():
        kids.setdefault(st["ppid"], []).append(pid)
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out

mode = sys.argv[1]
if mode == "ticks":
    hz = os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as f:
        print(int(float(f.read().split()[0]) * hz))
    sys.exit(0)
t = table()
skip = excluded(t, int(sys.argv[2]))
if mode == "netns":
    seen = {}
    for pid, st in sorted(t.items()):
        if pid in skip or pid == os.getpid():
            continue
        try:
            ns = os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            continue  # kernel threads, gone, or not ours to read
        seen.setdefault(ns, []).append(f"{st['comm']}({pid})")
    with os.fdopen(3, "w") as members:
        for ns in sorted(seen):
            print(ns)
            members.write(f"{ns} {' '.join(seen[ns][:8])}{' ...' if len(seen[ns]) > 8 else ''}\n")
elif mode == "new":
    since = int(sys.argv[3])
    left = set()
    if len(sys.argv) > 4 and os.path.exists(sys.argv[4]):
        with open(sys.argv[4]) as f:
            left = {int(l.split()[0]) for l in f if l.strip()}
    for pid, st in sorted(t.items()):
        if pid in skip or pid == os.getpid() or st["start"] <= since:
            continue
        if st["ppid"] == 2 or pid == 2:
            continue  # kernel threads (kworkers come and go)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        cmd = cmd or f"[{st['comm']}]"  # a zombie, or caught mid-exec
        mark = " [left by the run]" if pid in left else ""
        print(f"{st['comm']}: {cmd[:200]}{mark}")
PY
}

# snapshot DIR [SINCE_TICKS LEFT_FILE]: writes one file per aspect into DIR.
snapshot() {
    local dir=$1 since=${2:-} left=${3:-} me=$$
    mkdir -p "$dir"
    procs_py ticks >"$dir/ticks"
    snap_link | sort >"$dir/link"
    snap_addr | sort >"$dir/addr"
    snap_route 4 | sort >"$dir/route4"
    snap_route 6 | sort >"$dir/route6"
    snap_nft | sort >"$dir/nft"
    snap_iptables | sort >"$dir/iptables"
    snap_sysctl | sort >"$dir/sysctl"
    snap_mounts | sort >"$dir/mounts"
    snap_cgroups | sort >"$dir/cgroups"
    { ip netns list 2>/dev/null | sed -E 's/ \(id: [0-9]+\)$//; s/^/named /' || true; procs_py netns "$me" 3>"$dir/netns.members"; } | sort >"$dir/netns"
    snap_listen | sort -u >"$dir/listen"
    snap_files | sort >"$dir/files"
    if [ -n "$since" ]; then
        procs_py new "$me" "$since" "$left" | sort >"$dir/processes"
    else
        : >"$dir/processes"
    fi
    snap_modules | sort >"$dir/modules"
}

# ----------------------------------------------------------------- compare
# allow_rules: "KIND ASPECT ERE" lines of the allow-list files.
allow_rules() {
    local f
    for f in "$guard_dir/host-guard.allow" ${SKIFF_HOST_GUARD_ALLOW:+"$SKIFF_HOST_GUARD_ALLOW"}; do
        [ -r "$f" ] || continue
        sed -E 's/^[[:space:]]+//; /^(#|$)/d' "$f"
    done
}

# compare BEFORE AFTER: prints the differences; returns 1 if any fails.
compare() {
    local before=$1 after=$2 aspect rules failed=0 out
    [ -d "$before" ] && [ -d "$after" ] || die "compare needs two snapshot dirs"
    rules=$(allow_rules)
    for aspect in "${aspects[@]}"; do
        [ -e "$before/$aspect" ] || continue
        # "+ line" appeared during the run, "- line" disappeared.
        out=$(diff --unchanged-line-format= --old-line-format='- %L' --new-line-format='+ %L' \
            "$before/$aspect" "$after/$aspect" || true)
        [ -n "$out" ] || continue
        out=$(RULES=$rules ASPECT=$aspect awk '
            BEGIN {
                n = split(ENVIRON["RULES"], lines, "\n")
                for (i = 1; i <= n; i++) {
                    split(lines[i], f, " ")
                    if (f[2] != ENVIRON["ASPECT"] && f[2] != "*") continue
                    re = lines[i]; sub(/^[^ ]+ +[^ ]+ +/, "", re)
                    kind[++k] = f[1]; pat[k] = re
                }
            }
            {
                line = substr($0, 3); verdict = "FAIL"
                for (i = 1; i <= k; i++) if (line ~ pat[i]) { verdict = kind[i]; break }
                if (verdict == "allow") next
                print (verdict == "note" ? "note " : "FAIL ") $0
            }' <<<"$out")
        [ -n "$out" ] || continue
        echo "--- $aspect"
        if [ "$aspect" = netns ] && [ -e "$after/netns.members" ]; then
            # Name the processes inside each namespace that appeared.
            while IFS= read -r l; do
                echo "$l"
                case $l in "FAIL + net:"* | "note + net:"*)
                    awk -v ns="${l#* + }" '$1 == ns { $1 = ""; print "        processes:" $0 }' "$after/netns.members"
                    ;;
                esac
            done <<<"$out"
        else
            echo "$out"
        fi
        grep -q '^FAIL' <<<"$out" && failed=1
    done
    return "$failed"
}

# -------------------------------------------------------------------- run
# run_reaped LEFT CMD...: runs CMD as the child of a child subreaper; when CMD
# exits, writes the processes still hanging off the subreaper (what CMD
# daemonised and left) as "pid comm" lines to LEFT. Exits with CMD's status.
run_reaped() {
    local left=$1
    shift
    python3 - "$left" "$@" <<'PY'
import ctypes, os, signal, sys

left_file, argv = sys.argv[1], sys.argv[2:]
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("host-guard: prctl(PR_SET_CHILD_SUBREAPER) failed")
child = os.fork()
if child == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, lambda s, _f: os.kill(child, s))
status = None
while status is None:
    try:
        pid, st = os.waitpid(-1, 0)  # also reaps orphans that exited
    except InterruptedError:
        continue
    except ChildProcessError:
        break
    if pid == child:
        status = os.waitstatus_to_exitcode(st)
me = os.getpid()
left = []
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open(f"/proc/{d}/stat") as f:
            s = f.read()
    except OSError:
        continue
    rest = s[s.rindex(")") + 2 :].split()
    if int(rest[1]) == me:
        left.append((int(d), s[s.index("(") + 1 : s.rindex(")")]))
with open(left_file, "w") as f:
    for pid, comm in sorted(left):
        f.write(f"{pid} {comm}\n")
sys.exit(status if status is not None and status >= 0 else 128 + (-(status or 0)))
PY
}

# Pids of LEFT's processes and all their descendants (the whole leaked tree).
left_tree() {
    local left=$1
    python3 - "$left" <<'PY'
import os, sys
roots = set()
with open(sys.argv[1]) as f:
    roots = {int(l.split()[0]) for l in f if l.strip()}
kids = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        kids.setdefault(int(s[s.rindex(")") + 2 :].split()[1]), []).append(int(d))
todo, seen = list(roots), set(roots)
while todo:
    for k in kids.get(todo.pop(), []):
        if k not in seen:
            seen.add(k)
            todo.append(k)
for p in sorted(seen):
    print(p)
PY
}

cmd_run() {
    local report_only=0 dir rc=0 t0 t1 t2 t3 since guard_rc=0
    while [ $# -gt 0 ]; do
        case $1 in
        --report-only) report_only=1 ;;
        --) shift; break ;;
        *) break ;;
        esac
        shift
    done
    [ $# -gt 0 ] || die "usage: host-guard.sh run [--report-only] -- CMD [ARG...]"
    dir=$(mktemp -d "${TMPDIR:-/tmp}/skiff-host-guard.XXXXXX")
    t0=$(date +%s.%N)
    snapshot "$dir/before"
    since=$(cat "$dir/before/ticks")
    t1=$(date +%s.%N)
    echo "host-guard: host snapshot taken ($dir/before); running: $*" >&2
    run_reaped "$dir/left" "$@" || rc=$?
    t2=$(date +%s.%N)
    left_tree "$dir/left" >"$dir/left.tree"
    snapshot "$dir/after" "$since" "$dir/left.tree"
    echo "==> host-guard: what the run changed on the host (+ appeared, - disappeared)" >&2
    compare "$dir/before" "$dir/after" >"$dir/diff" || guard_rc=1
    t3=$(date +%s.%N)
    if [ -s "$dir/diff" ]; then
        cat "$dir/diff" >&2
    else
        echo "host-guard: no difference" >&2
    fi
    if [ -s "$dir/left" ]; then
        echo "host-guard: processes left running by the run (still alive; pids): $(tr '\n' ' ' <"$dir/left.tree")" >&2
    fi
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
        printf "host-guard: time added %.1f s (snapshot %.1f s, snapshot + compare %.1f s)\n", (b - a) + (d - c), b - a, d - c }' >&2
    if [ "$guard_rc" = 0 ] && [ "${SKIFF_HOST_GUARD_KEEP:-0}" != 1 ]; then
        rm -rf "$dir"
    else
        echo "host-guard: snapshots and diff kept in $dir" >&2
    fi
    if [ "$rc" != 0 ]; then
        return "$rc"
    fi
    if [ "$guard_rc" != 0 ]; then
        if [ "$report_only" = 1 ]; then
            echo "host-guard: the run changed the host (report only: not failing)" >&2
        else
            echo "host-guard: FAILED: the run changed the host (see FAIL lines above; allow-list: scripts/host-guard.allow)" >&2
            return 1
        fi
    fi
    return 0
}

# selftest: a run that leaks a file and a daemonised process must fail and
# name both.
cmd_selftest() {
    local tag out rc=0 left
    [ "$(id -u)" = 0 ] || die "selftest: run as root (the guard reads every process's namespaces)"
    tag=skiff-host-guard-selftest-$$
    # (The short sleep lets the daemon start before the run ends.)
    out=$(cmd_run -- sh -c "touch /tmp/$tag; setsid python3 -c 'import time; time.sleep(300)' $tag \
        </dev/null >/dev/null 2>&1 & sleep 0.3" 2>&1) || rc=$?
    left=$(pgrep -f "time.sleep.300. $tag" || true)
    # shellcheck disable=SC2086
    [ -z "$left" ] || kill $left
    rm -f "/tmp/$tag"
    rm -rf "$(sed -n 's/^host-guard: snapshots and diff kept in //p' <<<"$out")"
    if [ "$rc" = 1 ] && grep -q "^FAIL + f /tmp/$tag\$" <<<"$out" &&
        grep -q "^FAIL + python3: python3 -c .* $tag \[left by the run\]" <<<"$out"; then
        echo "host-guard selftest: ok (a leaked file and a leaked daemon were caught)"
        return 0
    fi
    echo "host-guard selftest: FAILED (exit $rc); the guard printed:" >&2
    echo "$out" >&2
    return 1
}

case ${1:-} in
selftest)
    cmd_selftest
    ;;
snapshot)
    # With BEFORE (an earlier snapshot), it also lists the processes started
    # since BEFORE and still alive.
    [ $# = 2 ] || [ $# = 3 ] || die "usage: host-guard.sh snapshot DIR [BEFORE]"
    if [ $# = 3 ]; then
        snapshot "$2" "$(cat "$3/ticks")"
    else
        snapshot "$2"
    fi
    ;;
compare)
    [ $# = 3 ] || die "usage: host-guard.sh compare BEFORE AFTER"
    compare "$2" "$3"
    ;;
run)
    shift
    cmd_run "$@"
    ;;
*)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
