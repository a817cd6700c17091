#!/usr/bin/env python3
"""Runs the workspace's test binaries, several at a time.

    scripts/run-tests.py [--jobs N] [--only NAME,...] [--wait-vm-image STATUS_FILE]

`cargo test` runs one test binary after another; most of ours spend their
time waiting on daemons, containers and a VM booting under TCG, so on a
2-core machine running a few at once finishes much sooner. Each binary is
still one process, as under `cargo test`: the tests inside it share its
fixtures (one daemon, one VM boot) and run on its own threads.

What it does:
  1. `cargo test --workspace --locked --no-run --message-format=json`
     builds every test binary and names them (unit tests of each crate,
     integration tests, benches' tests are not built);
  2. runs them N at a time (default 3, or $SKIFF_TEST_JOBS), the slowest
     known first, each from its package's directory as cargo does, its
     output kept in target/test-logs/<binary>.log and printed in one piece
     when it ends (so parallel output never interleaves);
  3. runs the doc tests (`cargo test --workspace --locked --doc`);
  4. prints each binary's time and result, and exits 1 if any failed.

--only NAME,...: just these binaries (a test target's name: `networking`,
or a library's name for its unit tests: `skiff_engine`), and no doc
tests.

--wait-vm-image STATUS_FILE: `machine_e2e` and skiff-init's `boot` and
`wsl` boot the VM image, which scripts/test.sh builds in the background
from the start of the run (a release build with fat LTO: the costliest
step; with the WSL rootfs, so that the `vm-image/build.sh` these tests run
finds it up to date and rewrites nothing under a running VM). Before such a
binary starts, wait until STATUS_FILE holds the build's exit status; a
failed build fails the binary with the build's log (STATUS_FILE's name with
`.log`).

Tests keep to their own names, data roots, namespaces and cgroups (the
harness's rule), so binaries running side by side do not see each other.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

# The test binaries that boot the VM image (see --wait-vm-image).
VM_IMAGE_USERS = {"machine_e2e", "boot", "wsl"}

# The slowest binaries start first (whole-run wall time is bounded below by
# the longest one), as measured in a run of scripts/test.sh here.
SLOW_FIRST = [
    "machine_e2e",
    "networking",
    "bollard_suite",
    "app",
    "boot",
    "build_realworld",
    "differential",
    "compose",
    "networking_live",
    "containers_run",
    "build",
    "images_push",
    "side_by_side",
]


def build(root: Path) -> list[dict]:
    """Builds the test binaries; one entry per binary to run."""
    cmd = [
        "cargo", "test", "--workspace", "--locked", "--no-run",
        "--message-format=json-render-diagnostics",
    ]
    proc = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        sys.exit(f"run-tests: `{' '.join(cmd)}` failed ({proc.returncode})")
    binaries = []
    for line in proc.stdout.decode().splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg.get("profile", {}).get("test"):
            continue
        target = msg["target"]
        binaries.append({
            "name": target["name"],
            "kind": "/".join(target["kind"]),
            "exe": msg["executable"],
            "cwd": str(Path(msg["manifest_path"]).parent),
            "package": msg["package_id"],
        })
    return binaries


def order(binaries: list[dict]) -> list[dict]:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    return sorted(binaries, key=lambda b: (rank.get(b["name"], len(rank)), b["exe"]))


def wait_for_status(status_file: Path) -> int:
    while not status_file.exists() or not status_file.read_text().strip():
        time.sleep(2)
    return int(status_file.read_text().strip() or "1")


class Runner:
    def __init__(self, root: Path, logs: Path, vm_status: Path | None):
        self.root, self.logs, self.vm_status = root, logs, vm_status
        self.lock = threading.Lock()
        self.results: list[tuple[str, str, float]] = []

    def run(self, b: dict) -> None:
        label = f"{b['name']} ({b['kind']}, {Path(b['cwd']).name})"
        log = self.logs / f"{Path(b['exe']).name}.log"
        start = time.monotonic()
        if b["name"] in VM_IMAGE_USERS and self.vm_status is not None:
            status = wait_for_status(self.vm_status)
            if status != 0:
                build_log = self.vm_status.with_suffix(".log")
                text = build_log.read_text(errors="replace") if build_log.exists() else ""
                self.finish(label, False, time.monotonic() - start,
                            f"the VM image build failed ({status}):\n{text}")
                return
        env = dict(os.environ, CARGO_MANIFEST_DIR=b["cwd"])
        with open(log, "wb") as out:
            rc = subprocess.run([b["exe"]], cwd=b["cwd"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, check=False).returncode
        text = log.read_text(errors="replace")
        self.finish(label, rc == 0, time.monotonic() - start, text)

    def finish(self, label: str, ok: bool, secs: float, text: str) -> None:
        with self.lock:
            verdict = "ok" if ok else "FAILED"
            print(f"\n==> {label}: {verdict} in {secs:.0f} s", flush=True)
            sys.stdout.write(text if not ok else "".join(
                line for line in text.splitlines(keepends=True)
                if line.startswith(("running ", "test result:", "FIGURE"))))
            sys.stdout.flush()
            self.results.append((label, verdict, secs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("SKIFF_TEST_JOBS", "3")))
    ap.add_argument("--only", type=lambda v: set(v.split(",")))
    ap.add_argument("--wait-vm-image", type=Path)
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    logs = target / "test-logs"
    logs.mkdir(parents=True, exist_ok=True)

    t0 = time.monotonic()
    queue = order(build(root))
    if args.only:
        queue = [b for b in queue if b["name"] in args.only]
    print(f"run-tests: {len(queue)} test binaries, {args.jobs} at a time", flush=True)
    runner = Runner(root, logs, args.wait_vm_image)
    pending = list(queue)
    take = threading.Lock()

    def worker() -> None:
        while True:
            with take:
                if not pending:
                    return
                b = pending.pop(0)
            runner.run(b)

    threads = [threading.Thread(target=worker) for _ in range(max(1, args.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    if not args.only:
        t = time.monotonic()
        doc = subprocess.run(["cargo", "test", "--workspace", "--locked", "--doc"], cwd=root,
                             check=False)
        verdict = "ok" if doc.returncode == 0 else "FAILED"
        runner.results.append(("doc tests", verdict, time.monotonic() - t))

    print(f"\n==> test binaries: wall {time.monotonic() - t0:.0f} s")
    failed = 0
    for label, verdict, secs in sorted(runner.results, key=lambda r: -r[2]):
        print(f"  {secs:7.0f} s  {verdict:6}  {label}")
        failed += verdict != "ok"
    print(f"==> {len(runner.results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
