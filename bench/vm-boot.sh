#!/usr/bin/env bash
# Boot time of the Skiff VM image under QEMU, against the floor: the same
# kernel booting a one-line init that powers off at once.
#
#   bench/vm-boot.sh [runs]        (default 5; prints medians)
#
# - floor: QEMU launch -> QEMU exit, kernel + busybox `poweroff -f` as /init;
# - skiff: QEMU launch -> `engine-ready` on the control port (skiffd answers
#   /_ping), on a data disk formatted by an earlier boot; the first boot
#   (mkfs included) is reported separately, and so is the clean shutdown
#   (`poweroff` -> QEMU exit);
# - through skiff (the whole path a user waits on): `skiff machine start`
#   (supervisor, QEMU, boot, and the relay up: docker.sock answers) and
#   `skiff machine stop` (the command until QEMU is gone), on one machine
#   without shares and with `--network restricted`; the skiff binary is
#   SKIFF_BIN or target/debug/skiff (built if missing).
# Both use the contract's QEMU command line (docs/vm.md) with -accel tcg
# unless SKIFF_BENCH_ACCEL=kvm (and /dev/kvm works).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
accel=${SKIFF_BENCH_ACCEL:-tcg}
"$root/scripts/install-deps.sh" >/dev/null

image=${SKIFF_IMAGE_DIR:-$root/target/vm-image/amd64}
if [ -z "${SKIFF_IMAGE_DIR:-}" ]; then
    "$root/vm-image/build.sh" >&2
fi
work=$(mktemp -d /tmp/skiff-vm-boot.XXXXXX)
skiff=${SKIFF_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/skiff}
cleanup() {
    if [ -d "$work/skiff-home/machines" ]; then
        SKIFF_HOME=$work/skiff-home timeout 120 "$skiff" machine rm >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The floor's initramfs: the static busybox and a one-line /init.
mkdir -p "$work/floor/bin"
cp /bin/busybox "$work/floor/bin/busybox"
printf '#!/bin/busybox sh\n/bin/busybox poweroff -f\n' >"$work/floor/init"
chmod 0755 "$work/floor/init"
python3 "$root/vm-image/tools/initramfs.py" cpio --stage "$work/floor" --epoch 0 \
    --out "$work/floor.cpio" --node /dev/console:c:5:1:0600 >/dev/null
zstd -q -19 -T1 "$work/floor.cpio" -o "$work/floor.img"

python3 - "$image" "$work" "$runs" "$accel" <<'EOF'
import json, os, socket, statistics, subprocess, sys, time

image, work, runs, accel = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
disk = os.path.join(work, "disk.img")
system = os.path.join(image, "system.img")
subprocess.run(["truncate", "-s", "1G", disk], check=True)

def qemu(d, initrd, append):
    for f in ("console.log", "engine.port", "control.port", "qmp.sock"):
        try: os.unlink(os.path.join(d, f))
        except FileNotFoundError: pass
    args = ["qemu-system-x86_64", "-machine", "q35", "-accel", accel, "-cpu", "max" if accel == "tcg" else "host",
            "-smp", "2", "-m", "1024", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            "-kernel", os.path.join(image, "vmlinuz"), "-initrd", initrd, "-append", append,
            "-serial", f"file:{d}/console.log",
            "-drive", f"file={disk},if=virtio,format=raw,cache=writeback",
            # The image's read-only /usr (docs/vm.md); the floor's init ignores it.
            *(["-drive", f"file={system},if=virtio,format=raw,readonly=on"] if os.path.exists(system) else []),
            "-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=engine,path={d}/engine.port,server=on,wait=off",
            "-device", "virtserialport,chardev=engine,name=skiff.engine",
            "-chardev", f"socket,id=control,path={d}/control.port,server=on,wait=off",
            "-device", "virtserialport,chardev=control,name=skiff.control",
            "-qmp", f"unix:{d}/qmp.sock,server=on,wait=off"]
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

def cmdline():
    return (f"console=ttyS0 panic=-1 quiet skiff.data=/dev/vda skiff.time={int(time.time())} "
            "skiff.ip=10.0.2.15/24 skiff.gw=10.0.2.2")

def floor_run():
    t0 = time.monotonic()
    p = qemu(work, os.path.join(work, "floor.img"), "console=ttyS0 panic=-1 quiet")
    p.wait(timeout=600)
    return time.monotonic() - t0

def skiff_run():
    t0 = time.monotonic()
    p = qemu(work, os.path.join(image, "initramfs.img"), cmdline())
    s = socket.socket(socket.AF_UNIX)
    while True:
        try:
            s.connect(os.path.join(work, "control.port")); break
        except OSError:
            time.sleep(0.005)
    s.settimeout(600)
    buf, booted = b"", None
    while True:
        data = s.recv(4096)
        if not data:
            sys.exit("bench: the control port closed before engine-ready")
        buf += data
        if b"booted " in buf and booted is None:
            booted = time.monotonic() - t0
        if b"engine-ready " in buf and buf.endswith(b"\n"):
            ready = time.monotonic() - t0
            break
    guest_ms = int(buf.split(b"engine-ready ")[1].split()[0])
    t1 = time.monotonic()
    s.sendall(b"poweroff\n")
    p.wait(timeout=600)
    down = time.monotonic() - t1
    stamps = {}
    with open(os.path.join(work, "console.log"), errors="replace") as f:
        for line in f:
            parts = line.split()
            # skiff-init: stamp <phase> <uptime ms>
            if len(parts) >= 4 and parts[0] == "skiff-init:" and parts[1] == "stamp":
                stamps.setdefault(parts[2], int(parts[3]))
    return ready, booted, guest_ms, down, stamps

def ms(x): return f"{x * 1000:7.0f} ms"

first = skiff_run()
floors, readys, boots, guests, downs, stamps = [], [], [], [], [], []
for _ in range(runs):
    floors.append(floor_run())
    r, b, g, d, st = skiff_run()
    readys.append(r); boots.append(b); guests.append(g); downs.append(d); stamps.append(st)
med = statistics.median
with open(os.path.join(image, "manifest.json")) as f:
    m = json.load(f)
vmlinuz = m["files"]["vmlinuz"]["size"]; initrd = m["files"]["initramfs.img"]["size"]
floor_img = os.path.getsize(os.path.join(work, "floor.img"))
print(f"VM boot, QEMU -accel {accel}, q35, 2 vCPUs, 1 GiB, median of {runs} (host load {os.getloadavg()[0]:.1f})")
print(f"  floor (kernel + one-line init, launch -> QEMU exit)      {ms(med(floors))}")
print(f"  skiff (launch -> engine-ready, formatted disk)           {ms(med(readys))}   (+{ms(med(readys) - med(floors)).strip()} over the floor)")
print(f"    launch -> booted (init up, control port answered)      {ms(med(boots))}")
print(f"    guest uptime at engine-ready                           {med(guests):7.0f} ms")
print(f"  first boot (mkfs.ext4 of a fresh 1 GiB disk included)    {ms(first[0])}")
print(f"  clean shutdown (poweroff -> QEMU exit)                   {ms(med(downs))}")
# Where the boot goes, from the guest's own uptime stamps (skiff-init's
# `stamp <phase> <ms>` console lines; medians per phase).
phases = [("init", "kernel -> /init (PID 1 runs)"), ("mounts", "/init -> API filesystems mounted"),
          ("modules", "-> boot modules loaded"), ("system", "-> system disk mounted at /usr"),
          ("network", "-> lo + eth0 configured"),
          ("disk", "-> data disk checked and mounted"), ("shares", "-> shared folders mounted"),
          ("skiffd-listening", "-> skiffd answers /_ping")]
# `system` exists only with a system disk (images before it had none).
phases = [(p, label) for p, label in phases if p != "system" or all("system" in st for st in stamps)]
if all(all(p in st for p, _ in phases) for st in stamps):
    print("  boot phases (guest uptime, median)        at        step")
    prev = 0
    for key, label in phases:
        at = med([st[key] for st in stamps])
        print(f"    {label:<38} {at:7.0f} ms {at - prev:7.0f} ms")
        prev = at
    print(f"    -> engine-ready seen by the host       {ms(med(readys))} (launch -> control port line; the relay's")
    print("       handshake follows: `skiff machine start` logs `the engine answers` in supervisor.log)")
else:
    print("  boot phases: the image has no `stamp` lines (an older skiff-init)")
sysimg = m["files"].get("system.img", {}).get("size")
print(f"artefacts: vmlinuz {vmlinuz / 2**20:.1f} MiB, initramfs.img {initrd / 2**20:.1f} MiB "
      f"compressed / {m['initramfs_uncompressed_size'] / 2**20:.1f} MiB uncompressed"
      + (f", system.img {sysimg / 2**20:.1f} MiB (read-only disk, read on demand)" if sysimg else "")
      + f"; floor initramfs {floor_img / 2**20:.1f} MiB")
if accel == "tcg":
    print("TCG emulates every guest instruction (and this host is shared): both figures are")
    print("several times what KVM / Virtualization.framework give on real hardware, where the")
    print("kernel's part shrinks to a few hundred ms and init + skiffd to tens of ms; the gap")
    print("over the floor is the part skiff-init and skiffd own. SKIFF_BENCH_ACCEL=kvm measures that.")
EOF

# Through skiff: start (-> the relay up) and stop, on one machine.
[ -x "$skiff" ] || (cd "$root" && cargo build -q -p skiff-machine --bin skiff)
export SKIFF_HOME=$work/skiff-home
"$skiff" machine create --cpus 2 --memory 1024 --disk 1 --image-dir "$image" \
    --accel "$accel" --network restricted --mount none >/dev/null
python3 - "$skiff" "$runs" "$accel" <<'EOF'
import os, statistics, subprocess, sys, time

skiff, runs, accel = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def timed(*args):
    t0 = time.monotonic()
    out = subprocess.run([skiff, "machine", *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench: skiff machine {' '.join(args)} failed: {out.stderr}")
    return time.monotonic() - t0
timed("start")  # the first boot formats the data disk
timed("stop")
starts, stops = [], []
for _ in range(runs):
    starts.append(timed("start"))
    stops.append(timed("stop"))
med = statistics.median
each = lambda xs: ", ".join(f"{x * 1000:.0f}" for x in xs)
print(f"through skiff, -accel {accel}, median of {runs} (host load {os.getloadavg()[0]:.1f})")
print(f"  skiff machine start (-> relay up, docker.sock answers)   {med(starts) * 1000:7.0f} ms   (each: {each(starts)})")
print(f"  skiff machine stop (-> QEMU gone)                        {med(stops) * 1000:7.0f} ms   (each: {each(stops)})")
EOF
