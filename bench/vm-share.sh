#!/usr/bin/env bash
# Host folders through the Skiff VM (virtiofs) vs the VM's own disk vs this
# host's own filesystem, in one run (issue 15).
#
#   bench/vm-share.sh        (as root)
#
# A machine (bench/vm-lib.sh, in the run's network namespace) shares one
# host folder ($tmp/share, `--mount`); one container in the VM has it at
# /share (the virtiofs share, QEMU's C virtiofsd with cache=auto) and a
# volume at /disk (ext4 on the VM's virtio-blk data disk). For each of
# share, disk and the host folder itself (this host's filesystem, the
# host's static busybox running the same commands natively), ROUNDS
# rounds, load average printed with each:
#   1. sequential write of SEQ_MIB MiB: dd bs=1M from /dev/zero, fsync;
#   2. sequential read of it: dd bs=1M to /dev/null after the guest's page
#      cache was dropped (the host's is not dropped: virtiofsd and the
#      disk image are read from it, as the host case is);
#   3. untar + stat of FILES small files (a tar made here, 0-4 KiB each, in
#      100 directories; busybox tar -x, then ls -lR of the tree: one lstat
#      a file).
# Times inside the VM come from the guest's /proc/uptime (10 ms); medians
# are printed with the ratios share/host and share/disk. Under TCG (the
# dev/CI hosts) every guest instruction is emulated: the disk and share
# columns both carry that cost; share/disk isolates virtiofs's own.
# Published anchors (macOS, KVM-class hypervisors): Docker Desktop's
# VirtioFS ≈ 3× slower than native; OrbStack 75–95 % of native.
#
# The C virtiofsd holds a file descriptor for every inode the guest knows:
# a share sees EMFILE once the guest holds ~RLIMIT_NOFILE of them (the
# hosts here cap it at 20000, so 20000 files and their directories do not
# fit; run FILES=15000 there). The step fails loudly then.
#
# Environment: ROUNDS=3 SEQ_MIB=1024 FILES=20000, SKIFF_BIN=,
# SKIFF_IMAGE_DIR=, VM_CPUS=2 VM_MEMORY=2048, KEEP=1 BENCH_TMPDIR=.
set -euo pipefail

BENCH_NAME=vm-share
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=bench/vm-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/vm-lib.sh"

bench_numbers ROUNDS=3 SEQ_MIB=1024 FILES=20000
bench_init qemu-system-x86_64 busybox
bench_fixtures
bench_registry
skiffd_sock="" dockerd_sock="" skiffd_pid="" dockerd_pid=""
bench_client

bench_before_stop() {
    [ -z "${sock[vm]:-}" ] || dk vm rm -f benchshare >/dev/null 2>&1 || true
    bench_vm_stop
}

share=$tmp/share
mkdir -p "$share" "$tmp/host"
# The tar of FILES small files (deterministic content), in the share and
# in the host folder.
python3 - "$share/files.tar" "$FILES" <<'PY'
import io, random, sys, tarfile
out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(15)
with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as tar:
    for d in range(100):
        info = tarfile.TarInfo(f"t/d{d:03}"); info.type = tarfile.DIRTYPE; info.mode = 0o755
        tar.addfile(info)
    for i in range(n):
        data = rnd.randbytes(rnd.randint(0, 4096))
        info = tarfile.TarInfo(f"t/d{i % 100:03}/f{i:05}"); info.size = len(data); info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
PY
cp "$share/files.tar" "$tmp/host/files.tar"

bench_vm_start --mount "$share"
dk vm pull -q busybox >/dev/null || die "vm: docker pull busybox failed"
dk vm run -d --name benchshare --privileged -v "$share:/share" -v benchshare:/disk busybox sleep 86400 >/dev/null
dk vm exec benchshare cp /share/files.tar /disk/files.tar

# The workload, one step at a time: `sh -c "$ops" - STEP DIR` prints the
# step's seconds. DROP is the command that drops the page cache before a
# read (the guest's; nothing on the host).
# shellcheck disable=SC2016 # expanded by the shell that runs it
ops='
step=$1 dir=$2
now() { cut -d" " -f1 /proc/uptime; }
case $step in
write) t0=$(now); dd if=/dev/zero of="$dir/big" bs=1M count='"$SEQ_MIB"' conv=fsync 2>/dev/null; t1=$(now) ;;
read) eval "$DROP"; t0=$(now); dd if="$dir/big" of=/dev/null bs=1M 2>/dev/null; t1=$(now); rm -f "$dir/big" ;;
untar)
    rm -rf "$dir/t"; sync; t0=$(now)
    tar -xf "$dir/files.tar" -C "$dir" && ls -lR "$dir/t" >/dev/null || { echo "untar + stat in $dir failed" >&2; exit 1; }
    t1=$(now); rm -rf "$dir/t" ;;
esac
echo "$t0 $t1" | awk "{ printf \"%.2f\", \$2 - \$1 }"
'
# host: this host's busybox (static), the same applets; /proc/uptime of the host.
run_step() { # run_step WHERE STEP
    case $1 in
    share) dk vm exec -e DROP='sync; echo 3 >/proc/sys/vm/drop_caches' benchshare sh -c "$ops" - "$2" /share ;;
    disk) dk vm exec -e DROP='sync; echo 3 >/proc/sys/vm/drop_caches' benchshare sh -c "$ops" - "$2" /disk ;;
    host) DROP=true busybox sh -c "$ops" - "$2" "$tmp/host" ;;
    esac
}

wheres=(host disk share)
steps=(write read untar)
declare -A got=()
printf '%-5s %-6s %10s %10s %12s %6s\n' round where "write s" "read s" "untar+stat s" load >&3
for ((r = 1; r <= ROUNDS; r++)); do
    for w in "${wheres[@]}"; do
        row=()
        for s in "${steps[@]}"; do
            v=$(run_step "$w" "$s") || die "$w: $s failed"
            got[$w,$s]+=" $v"
            row+=("$v")
        done
        printf '%-5s %-6s %10s %10s %12s %6s\n' "$r" "$w" "${row[@]}" "$(cut -d' ' -f1 /proc/loadavg)" >&3
    done
done

mbs() { awk -v s="$1" -v m="$SEQ_MIB" 'BEGIN { if (s > 0) printf "%.0f", m * 1.048576 / s; else print "-" }'; }
printf 'host folders: virtiofs share vs VM disk vs host, Skiff VM under %s (%s vCPUs), median of %s rounds\n' \
    "$vm_accel" "${VM_CPUS:-2}" "$ROUNDS"
printf 'load average at the end %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %9s %9s %9s %11s %11s\n' metric host 'VM disk' share 'share/host' 'share/disk'
for s in "${steps[@]}"; do
    for w in "${wheres[@]}"; do declare "m_$w=$(median <<<"${got[$w,$s]}")"; done
    case $s in
    write) label="write $SEQ_MIB MiB (fsync), s" ;;
    read) label="read $SEQ_MIB MiB, s" ;;
    untar) label="untar + stat $FILES files, s" ;;
    esac
    # shellcheck disable=SC2154 # m_host, m_disk, m_share: declared above
    printf '%-34s %9s %9s %9s %11s %11s\n' "$label" "$m_host" "$m_disk" "$m_share" \
        "$(bench_ratio "$m_share" "$m_host")" "$(bench_ratio "$m_share" "$m_disk")"
    # shellcheck disable=SC2154
    [ "$s" = untar ] || printf '%-34s %9s %9s %9s\n' "  = MB/s" "$(mbs "$m_host")" "$(mbs "$m_disk")" "$(mbs "$m_share")"
done
printf 'ratios are time ratios (2.0 = twice as slow). Anchors: Docker Desktop VirtioFS ≈ 3.0 vs native (macOS), OrbStack 1.05-1.33 (75-95 %% of native).\n'
[ "$vm_accel" = kvm ] || printf 'TCG: the guest runs emulated, so share/host mostly measures emulation; share/disk is virtiofs vs virtio-blk under the same emulation.\n'
