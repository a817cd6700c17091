#!/usr/bin/env bash
# Published ports through the Skiff VM vs the same container on skiffd
# running natively on this host, side by side in one run (issue 15).
#
#   bench/vm-ports.sh        (as root)
#
# Two engines, the same skiffd release binary, both in the run's network
# namespace (bench/lib.sh; nothing touches the host's network):
#   native  skiffd on this host: client → 127.0.0.1:P → skiffd's userland
#           proxy → the container;
#   vm      skiffd in the Skiff VM (`skiff machine`, bench/vm-lib.sh):
#           client → 127.0.0.1:P (the supervisor's listener) → a relay
#           stream over the VM's transport (virtio-serial here) →
#           skiff-init → skiffd's proxy in the guest → the container.
# Measured, engines interleaved:
#   1. throughput: busybox httpd sends a THRU_MIB MiB sparse file through
#      the published port (median MB/s of ROUNDS);
#   2. REQUESTS short HTTP requests (busybox httpd), CONCURRENCY at a time,
#      a fresh connection each: requests/s and p99 latency (median of
#      ROUNDS), failed requests.
# and prints each with the ratio vm/native. Under TCG (no usable KVM, as on
# the dev/CI hosts) the guest side runs emulated: the ratio is the VM's cost
# *with* emulation, an upper bound of what KVM / Virtualization.framework
# cost. The load average is printed with each round.
#
# Environment: ROUNDS=3 THRU_MIB=1024 REQUESTS=2000 CONCURRENCY=16,
# SKIFFD=path (default: cargo build --release), SKIFF_BIN=, SKIFF_IMAGE_DIR=,
# VM_CPUS=2 VM_MEMORY=2048, KEEP=1 BENCH_TMPDIR=.
set -euo pipefail

BENCH_NAME=vm-ports
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=bench/vm-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/vm-lib.sh"

bench_numbers ROUNDS=3 THRU_MIB=1024 REQUESTS=2000 CONCURRENCY=16
engines=(native vm)

bench_init qemu-system-x86_64
bench_fixtures
bench_build_skiffd skiffd skiff-shim
bench_registry
bench_start_skiffd
dockerd_sock="" dockerd_pid=""
bench_client
sock[native]=$skiffd_sock

bench_before_stop() {
    bench_rm_containers native
    bench_vm_stop
}

bench_vm_start
for e in "${engines[@]}"; do
    dk "$e" pull -q busybox >/dev/null || die "$e: docker pull busybox failed"
done

# The client, in the run's namespace: `thru PORT BYTES` prints MB/s of one
# GET of /big; `rate PORT TOTAL CONC` prints "req/s p99_ms failed".
client_py='
import socket, sys, time
from concurrent.futures import ThreadPoolExecutor

def get(port, path, sink):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"GET " + path + b" HTTP/1.0\r\nHost: x\r\n\r\n")
    got, head = 0, b""
    buf = bytearray(1 << 20)
    while True:
        n = s.recv_into(buf)
        if n == 0:
            break
        if len(head) < 16:
            head += bytes(buf[:16])
        got += n
    s.close()
    return got, head

def wait(port):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            got, head = get(port, b"/", None)
            if head.startswith(b"HTTP/1.") and b" 200 " in head:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("port %d never answered 200" % port)

mode, port = sys.argv[1], int(sys.argv[2])
wait(port)
if mode == "thru":
    want = int(sys.argv[3])
    t0 = time.monotonic()
    got, _ = get(port, b"/big", None)
    t1 = time.monotonic()
    if got < want:
        sys.exit("got %d of %d bytes" % (got, want))
    print("%.1f" % (got / (t1 - t0) / 1e6))
else:
    total, conc = int(sys.argv[3]), int(sys.argv[4])
    def one(_):
        t = time.monotonic()
        try:
            _, head = get(port, b"/", None)
            ok = head.startswith(b"HTTP/1.") and b" 200 " in head
        except OSError:
            ok = False
        return ok, time.monotonic() - t
    t0 = time.monotonic()
    with ThreadPoolExecutor(conc) as ex:
        results = list(ex.map(one, range(total)))
    t1 = time.monotonic()
    lat = sorted(d for _, d in results)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print("%.0f %.1f %d" % (total / (t1 - t0), p99 * 1000, sum(1 for ok, _ in results if not ok)))
'

bytes=$((THRU_MIB * 1048576))
declare -A mbps=() rps=() p99=() failed=()
printf '%-5s %-7s %10s %10s %10s %8s %6s\n' round engine 'MB/s' 'req/s' 'p99 ms' failed load >&3
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order=(native vm); else order=(vm native); fi
    for e in "${order[@]}"; do
        port=$(free_port)
        # shellcheck disable=SC2016 # expanded in the container
        dk "$e" run -d --name benchports -p "127.0.0.1:$port:80" busybox sh -c \
            "mkdir -p /www && echo ok >/www/index.html && dd if=/dev/zero of=/www/big bs=1 count=0 seek=$bytes 2>/dev/null && exec httpd -f -p 80 -h /www" >/dev/null
        t=$(in_netns python3 -c "$client_py" thru "$port" "$bytes") || die "$e: throughput"
        read -r q l f < <(in_netns python3 -c "$client_py" rate "$port" "$REQUESTS" "$CONCURRENCY") || die "$e: requests"
        dk "$e" rm -f benchports >/dev/null
        mbps[$e]+=" $t" rps[$e]+=" $q" p99[$e]+=" $l" failed[$e]+=" $f"
        printf '%-5s %-7s %10s %10s %10s %8s %6s\n' "$r" "$e" "$t" "$q" "$l" "$f" "$(cut -d' ' -f1 /proc/loadavg)" >&3
    done
done

for e in "${engines[@]}"; do
    mbps[$e]=$(median <<<"${mbps[$e]}") rps[$e]=$(median <<<"${rps[$e]}") p99[$e]=$(median <<<"${p99[$e]}")
    failed[$e]=$(awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }' <<<"${failed[$e]}")
done
printf 'published ports: through the Skiff VM (%s, %s vCPUs, virtio-serial relay) vs native skiffd, median of %s rounds\n' \
    "$vm_accel" "${VM_CPUS:-2}" "$ROUNDS"
printf 'skiffd %s; load average at the end %s\n' "$skiffd_bin" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-52s %10s %10s %8s\n' metric native vm 'vm/native'
printf '%-52s %10s %10s %8s\n' "${THRU_MIB} MiB through a published port, MB/s" "${mbps[native]}" "${mbps[vm]}" "$(bench_ratio "${mbps[vm]}" "${mbps[native]}")"
printf '%-52s %10s %10s %8s\n' "$REQUESTS HTTP requests ($CONCURRENCY at a time), req/s" "${rps[native]}" "${rps[vm]}" "$(bench_ratio "${rps[vm]}" "${rps[native]}")"
printf '%-52s %10s %10s %8s\n' "  p99 latency, ms" "${p99[native]}" "${p99[vm]}" "$(bench_ratio "${p99[vm]}" "${p99[native]}")"
printf '%-52s %10s %10s %8s\n' "  failed requests (all rounds)" "${failed[native]}" "${failed[vm]}" ""
[ "$vm_accel" = kvm ] || printf 'TCG: the guest (skiff-init relay, skiffd proxy, httpd) is emulated; with KVM the vm column rises.\n'
