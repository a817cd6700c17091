#!/usr/bin/env bash
# Networking benchmarks: skiffd vs dockerd, side by side, in one run
# (issue 12 §4).
#
#   bench/network.sh
#
# With a private skiffd and a private dockerd that keeps its networking
# (DOCKERD_NETWORK=1: its docker0, iptables rules and docker-proxy), both in
# the run's network namespace (see bench/lib.sh; nothing touches the host's
# network), busybox from a private registry, it measures, engines
# interleaved:
#   1. `docker run --rm busybox true` on the default bridge (each engine's
#      networking included): median ms of RUNS after WARMUP; target ratio
#      skiffd/dockerd ≤ 0.3;
#   2. throughput through a published port: busybox httpd in a container
#      sends a THRU_MIB MiB file to a client on 127.0.0.1 (loopback → proxy
#      → container): median MB/s of THRU_RUNS; target skiffd ≥ dockerd;
#   3. connection rate: REQUESTS short HTTP requests (busybox httpd) to a
#      published port, CONCURRENCY at a time: requests/s and errors;
#      target skiffd ≥ dockerd, 0 errors;
#   4. `docker network create` + `network rm`, NETS cycles: ms per cycle.
# and prints a table (metric, skiffd, dockerd, ratio skiffd/dockerd).
# Everything is removed at exit (bench/lib.sh).
#
# Environment: RUNS=20 WARMUP=2 THRU_MIB=1024 THRU_RUNS=3 REQUESTS=2000
# CONCURRENCY=16 NETS=50, SKIFFD=path (default: cargo build --release),
# DOCKERD= CONTAINERD= DOCKER= KEEP=1 BENCH_TMPDIR=.
set -euo pipefail

BENCH_NAME=network
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

engines=(skiffd dockerd)
bench_numbers RUNS=20 WARMUP=2 THRU_MIB=1024 THRU_RUNS=3 REQUESTS=2000 CONCURRENCY=16 NETS=50
export DOCKERD_NETWORK=1

bench_side_by_side curl flock

bench_before_stop() {
    local e
    for e in "${engines[@]}"; do
        dk "$e" network rm benchnet >/dev/null 2>&1 || true
    done
    bench_rm_containers "${engines[@]}"
}

ratio() { bench_ratio "$@"; }

for e in "${engines[@]}"; do
    dk "$e" pull -q busybox >/dev/null || die "$e: docker pull busybox failed"
done

# 1. run --rm on the default bridge.
bench_series "$WARMUP" "$RUNS" run --rm busybox true
run_s=${series_median[skiffd]}
run_d=${series_median[dockerd]}

# The client side of 2 and 3, in the run's namespace: python3 (the host's
# nc may be absent).
# shellcheck disable=SC2016
receive_py='
import socket, sys, time
port, want = int(sys.argv[1]), int(sys.argv[2])
deadline = time.monotonic() + 30
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET /big HTTP/1.0\r\nHost: x\r\n\r\n")
        t0 = time.monotonic(); got = 0
        buf = bytearray(1 << 20)
        while True:
            n = s.recv_into(buf)
            if n == 0: break
            got += n
        t1 = time.monotonic(); s.close()
    except OSError:
        got = 0
    if got >= want:
        print("%.0f" % (got / (t1 - t0) / 1e6)); break
    if time.monotonic() > deadline:
        sys.exit("got %d of %d bytes" % (got, want))
    time.sleep(0.2)  # the server was not listening yet
'
rate_py='
import socket, sys, time
from concurrent.futures import ThreadPoolExecutor
port, total, conc = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def one(_):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d: break
            data += d
        s.close()
        return data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n", 1)[0]
    except OSError:
        return False
for _ in range(100):  # wait for the server
    if one(0): break
    time.sleep(0.1)
t0 = time.monotonic()
with ThreadPoolExecutor(conc) as ex:
    ok = sum(ex.map(one, range(total)))
t1 = time.monotonic()
print("%.0f %d" % (total / (t1 - t0), total - ok))
'

# 2. throughput: busybox httpd in the container sends a sparse file of
# THRU_MIB MiB (sendfile), through its published port.
declare -A mbps=([skiffd]="" [dockerd]="")
bytes=$((THRU_MIB * 1048576))
for ((i = 0; i < THRU_RUNS; i++)); do
    for e in "${engines[@]}"; do
        port=$(free_port)
        dk "$e" run -d --name benchthru -p "127.0.0.1:$port:80" busybox sh -c \
            "mkdir -p /www && dd if=/dev/zero of=/www/big bs=1 count=0 seek=$bytes 2>/dev/null && exec httpd -f -p 80 -h /www" >/dev/null
        mbps[$e]+=" $(in_netns python3 -c "$receive_py" "$port" "$bytes")" || die "$e: throughput"
        dk "$e" rm -f benchthru >/dev/null
    done
done
thru_s=$(median <<<"${mbps[skiffd]}")
thru_d=$(median <<<"${mbps[dockerd]}")

# 3. connection rate through a published port.
declare -A rate=() errors=()
for e in "${engines[@]}"; do
    port=$(free_port)
    # shellcheck disable=SC2016 # expanded in the container
    dk "$e" run -d --name benchhttp -p "127.0.0.1:$port:80" busybox \
        sh -c 'mkdir -p /www && echo ok >/www/index.html && exec httpd -f -p 80 -h /www' >/dev/null
    read -r rate[$e] errors[$e] < <(in_netns python3 -c "$rate_py" "$port" "$REQUESTS" "$CONCURRENCY")
    dk "$e" rm -f benchhttp >/dev/null
done

# 4. network create + rm.
declare -A per=()
for e in "${engines[@]}"; do
    t0=${EPOCHREALTIME/./}
    for ((i = 0; i < NETS; i++)); do
        dk "$e" network create benchnet >/dev/null
        dk "$e" network rm benchnet >/dev/null
    done
    per[$e]=$(awk -v a="$t0" -v b="${EPOCHREALTIME/./}" -v n="$NETS" 'BEGIN { printf "%.1f", (b - a) / 1000 / n }')
done

printf 'network benchmarks: skiffd vs dockerd, one run, engines interleaved\n'
printf 'skiffd %s; dockerd %s (userland proxy)\n' "$skiffd_bin" "$(dk dockerd version --format '{{.Server.Version}}')"
printf '%-58s %10s %10s %8s\n' metric skiffd dockerd ratio
printf '%-58s %10s %10s %8s\n' "run --rm busybox true (default bridge), median ms" "$run_s" "$run_d" "$(ratio "$run_s" "$run_d")"
printf '%-58s %10s %10s %8s\n' "${THRU_MIB} MiB through a published port, median MB/s" "$thru_s" "$thru_d" "$(ratio "$thru_s" "$thru_d")"
printf '%-58s %10s %10s %8s\n' "$REQUESTS HTTP requests ($CONCURRENCY at a time), req/s" "${rate[skiffd]}" "${rate[dockerd]}" "$(ratio "${rate[skiffd]}" "${rate[dockerd]}")"
printf '%-58s %10s %10s %8s\n' "  failed requests" "${errors[skiffd]}" "${errors[dockerd]}" ""
printf '%-58s %10s %10s %8s\n' "network create + rm, ms per cycle ($NETS cycles)" "${per[skiffd]}" "${per[dockerd]}" "$(ratio "${per[skiffd]}" "${per[dockerd]}")"
printf 'targets: run ratio ≤ 0.30, throughput and rate ratio ≥ 1.00 with 0 failed requests\n'
