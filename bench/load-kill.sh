#!/usr/bin/env bash
# kill -9 at random moments under load, the long version (issue 19 §4; CI
# runs the bounded one, tests/tests/load_kill.rs, with 6 kills and 24
# clients).
#
#   bench/load-kill.sh
#   ROUNDS=50 CLIENTS=128 MAX_MS=5000 SEED=123 bench/load-kill.sh
#
# Runs that test with more kills and clients: the load generator's mix
# (tests/src/load.rs) against one skiffd, SIGKILLed ROUNDS times at random
# moments (uniform in 300..MAX_MS ms after the clients go on; the seed is
# printed, SEED replays a run) and restarted; after each restart `skiffd
# check` must be clean and every acknowledged create / removal must still
# hold. Prints one line per kill and the totals: kills, checker results,
# acknowledged operations, operations lost (target 0). Not a speed figure:
# nothing is compared with dockerd (its kill -9 is not the question here).
#
# Environment: ROUNDS=30 CLIENTS=64 MAX_MS=4000 SEED=, SKIFFD_BIN= (default
# the debug skiffd the test harness uses; built if missing).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
[ "$(id -u)" = 0 ] || { echo "load-kill.sh: run as root (the test harness makes namespaces)" >&2; exit 1; }

export SKIFF_KILL_ROUNDS=${ROUNDS:-30}
export SKIFF_KILL_CLIENTS=${CLIENTS:-64}
export SKIFF_KILL_MAX_MS=${MAX_MS:-4000}
[ -z "${SEED:-}" ] || export SKIFF_KILL_SEED=$SEED

if [ -z "${SKIFFD_BIN:-}" ]; then
    cargo build -q -p skiffd -p skiff-shim
fi
bin=$(cargo test -q -p skiff-e2e --test load_kill --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "load_kill":
        print(m["executable"])')
[ -x "$bin" ] || { echo "load-kill.sh: building the load_kill test failed" >&2; exit 1; }
echo "# load average $(cut -d' ' -f1-3 /proc/loadavg); $SKIFF_KILL_ROUNDS kills, $SKIFF_KILL_CLIENTS clients, up to $SKIFF_KILL_MAX_MS ms between kills"
cd tests
exec "$bin" --exact kill9_at_random_moments_under_load_loses_nothing --nocapture
