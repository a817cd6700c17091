#!/usr/bin/env bash
# Coverage-guided fuzzing of Skiff's parsers and decoders (fuzz/, cargo-fuzz:
# libFuzzer on the nightly toolchain the machines carry; nothing fetches a
# toolchain). Builds every target once, then runs each for FUZZ_SECONDS
# (default 60), two at a time, starting from its committed seed corpus
# (fuzz/corpus/<target>, read only: new inputs go to a scratch copy).
# Fails when a target crashes (a panic, an assertion of the target, a
# timeout or running out of memory), printing the input that did it.
#
#   scripts/fuzz.sh [target...]          (default: every target)
#
# Environment: FUZZ_SECONDS, FUZZ_JOBS (targets at a time, default 2),
# FUZZ_TARGET_DIR (the fuzz build's own target dir, default fuzz/target,
# whatever CARGO_TARGET_DIR says: the builds share nothing). The scratch
# corpora, crash inputs and the unpack/load targets' sandboxes live in
# $FUZZ_TARGET_DIR/run and are removed at the end, crash inputs excepted.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

cargo_fuzz_version=0.13.2
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz.sh: the nightly toolchain is not installed (cargo-fuzz needs it; this script installs no toolchain)" >&2
    exit 1
fi
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$cargo_fuzz_version" ]; then
    echo "==> installing cargo-fuzz $cargo_fuzz_version"
    env -u CARGO_TARGET_DIR cargo install --locked cargo-fuzz --version "$cargo_fuzz_version"
fi
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$root/fuzz/target}

# No sanitizer: the code under test is safe Rust, where a bug shows as a
# panic; ASan would double the build and slow the runs (see fuzz/README.md).
# Debug assertions on, so integer overflows are found.
flags=(--fuzz-dir fuzz --sanitizer none --debug-assertions)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi

start=$(date +%s)
echo "==> building ${#targets[@]} fuzz targets"
cargo +nightly fuzz build "${flags[@]}"
built=$(date +%s)
echo "    built in $((built - start)) s"

run=$CARGO_TARGET_DIR/run
rm -rf "$run"
mkdir -p "$run/sandbox"
export SKIFF_FUZZ_SANDBOX=$run/sandbox
# libFuzzer ends a run with exit(), so no destructor removes a target's
# temp dirs: they go in the sandbox too (the host guard caught one in /tmp).
export TMPDIR=$run/sandbox
cleanup() {
    # Crash inputs stay for a look; the rest (sandboxes made as root) goes,
    # the scratch corpora too unless FUZZ_KEEP_CORPUS=1 (to merge them into
    # fuzz/corpus with `-merge=1`).
    rm -rf "$run/sandbox"
    [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$run/corpus"
}
trap cleanup EXIT

# The binaries `cargo fuzz build` made, run directly: `cargo fuzz run`
# would re-run cargo for each (and two at a time wait on each other's lock).
bin_dir=$CARGO_TARGET_DIR/$(rustup run nightly rustc -vV | sed -n 's/^host: //p')/release
fuzz_one() {
    local target=$1
    mkdir -p "$run/corpus/$target" "$run/crashes/$target" "fuzz/corpus/$target"
    # The scratch corpus comes first: libFuzzer adds new inputs to it only.
    "$bin_dir/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$run/crashes/$target/" -print_final_stats=1 \
        "$run/corpus/$target" "fuzz/corpus/$target" >"$run/$target.log" 2>&1
}

failed=()
summary=()
report() {
    local target=$1 status=$2 log=$run/$1.log
    # libFuzzer's last status line: "#N DONE cov: C ft: F corp: … exec/s: E …".
    local done_line
    done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true)
    local execs cov
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
    local rate
    rate=$(sed -nE 's/.* exec\/s: ([0-9]+).*/\1/p' <<<"$done_line")
    summary+=("$(printf '%-14s %-6s cov %-6s exec/s %-8s execs %s' "$target" "$status" "${cov:-?}" "${rate:-?}" "$execs")")
    if [ "$status" != ok ]; then
        failed+=("$target")
        echo "==> $target FAILED; the end of its log:" >&2
        tail -n 40 "$log" >&2
        for crash in "$run/crashes/$target"/*; do
            [ -f "$crash" ] || continue
            echo "--- crash input $crash (base64):" >&2
            base64 -w0 "$crash" >&2
            echo >&2
        done
    fi
}

echo "==> fuzzing each target for $seconds s, $jobs at a time"
pids=()
names=()
drain() {
    local i
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then report "${names[$i]}" ok; else report "${names[$i]}" crash; fi
    done
    pids=()
    names=()
}
for target in "${targets[@]}"; do
    fuzz_one "$target" &
    pids+=($!)
    names+=("$target")
    if [ ${#pids[@]} -ge "$jobs" ]; then
        drain
    fi
done
drain

end=$(date +%s)
printf '%s\n' "${summary[@]}"
echo "    build $((built - start)) s, runs $((end - built)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: crashes in: ${failed[*]} (inputs in $run/crashes)" >&2
    exit 1
fi
