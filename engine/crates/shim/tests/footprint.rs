//! The footprint of one idle shim: RSS, PSS, descriptors, threads.

mod common;

use common::{exec_request, rss_kib, world};
use skiff_shim::protocol::ExecRequest;

#[test]
fn shim_memory_and_descriptors() {
    let Some(w) = world() else { return };
    let shim = w.spawn("rss", &["sleep", "100"]);
    let pid = shim.shim_pid().expect("shim pid");
    let rss = rss_kib(pid).expect("rss");
    let pss = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    let threads = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse::<u32>().ok())
        });
    eprintln!(
        "FIGURE shim: RSS {rss} KiB, PSS {} KiB, {fds} fds, {} thread(s)",
        pss.map_or("?".into(), |p| p.to_string()),
        threads.map_or("?".into(), |t| t.to_string())
    );
    assert_eq!(threads, Some(1), "the shim is single-threaded");
    assert!(fds <= 12, "{fds} descriptors");

    // Execs (with and without a tty) leak nothing in the shim.
    let run_exec = |tty: bool| {
        let req = ExecRequest {
            tty,
            stdin: tty,
            ..exec_request(&["true"], 0)
        };
        let info = shim.exec(req).expect("exec");
        assert_eq!(shim.wait_exec(&info.exec_id).expect("wait").exit_code, 0);
    };
    run_exec(false);
    run_exec(true);
    let fd_list = || {
        let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                let target = std::fs::read_link(e.path()).unwrap_or_default();
                format!("{}->{}", e.file_name().to_string_lossy(), target.display())
            })
            .collect();
        fds.sort();
        fds
    };
    let fd_count = || fd_list().len();
    // A client connection the shim has not yet seen closed is not a leak:
    // take the lowest count seen while it settles.
    let settled = || {
        let mut low = usize::MAX;
        for _ in 0..20 {
            low = low.min(fd_count());
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        low
    };
    let before = settled();
    let rss_before = rss_kib(pid).unwrap_or(0);
    for i in 0..30 {
        run_exec(i % 2 == 0);
    }
    let rss_after = rss_kib(pid).unwrap_or(0);
    let after = settled();
    eprintln!("FIGURE shim after 32 execs: {after} fds, RSS {rss_after} KiB (was {rss_before})");
    assert_eq!(after, before, "descriptors after 30 execs: {:?}", fd_list());
    shim.delete(true).expect("delete");
}
