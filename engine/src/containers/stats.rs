//! `docker stats`: samples of a container's cgroup counters in docker's
//! JSON shape (`ContainerStatsResponse`), once or every second.
//!
//! Each sample reads the container's cgroup files ([`cgroup`] finds them;
//! v1 and v2 layouts), the host's `/proc/stat` (`system_cpu_usage`,
//! `online_cpus`, as dockerd computes them) and the interfaces of the
//! container's network namespace (`/proc/<pid>/net/dev`). Like dockerd, a
//! sample carries the previous one's CPU counters as `precpu_stats`, and a
//! container that is not running yields samples with only its name and id.
//! Also here: the size of containers' writable layers ([`disk`]).

pub mod cgroup;
pub mod disk;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bollard_stubs::models::{
    ContainerBlkioStatEntry, ContainerBlkioStats, ContainerCpuStats, ContainerCpuUsage,
    ContainerMemoryStats, ContainerNetworkStats, ContainerPidsStats, ContainerStatsResponse,
    ContainerStorageStats, ContainerThrottlingData,
};
use tokio::sync::mpsc;

use self::cgroup::Cgroups;
use super::ContainerService;
use super::error::ContainerError;
use super::record::ContainerRecord;

/// Time between two samples of a stream (dockerd's collector interval).
pub const INTERVAL: Duration = Duration::from_secs(1);
/// Time between the priming sample of a request without `stream` nor
/// `one-shot` and the sample answered. dockerd answers after one to two of
/// its collector's ticks; the docker CLI's `stats --no-stream` gives up
/// after 2 s ("timeout waiting for stats"), so a busy host must not spend
/// most of that budget waiting. Half a second is enough for the CLI's CPU
/// percentage (a ratio of the two samples' deltas).
pub const PRIME_INTERVAL: Duration = Duration::from_millis(500);
/// `USER_HZ`: the unit of `/proc/stat` and `cpuacct.stat`.
const CLOCK_TICKS: u64 = 100;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// What a stats request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsOptions {
    /// A sample every second until the client goes away.
    pub stream: bool,
    /// Without `stream`: answer the first sample at once (no `precpu_stats`)
    /// instead of waiting a second for a second one.
    pub one_shot: bool,
}

impl ContainerService {
    /// Samples of a container's stats, as `docker stats` streams them. The
    /// channel closes after the last sample (at once without `stream`).
    pub fn stats(
        self: &Arc<Self>,
        what: &str,
        opts: StatsOptions,
    ) -> Result<mpsc::Receiver<ContainerStatsResponse>, ContainerError> {
        if opts.stream && opts.one_shot {
            return Err(ContainerError::InvalidArgument(
                "cannot have stream=true and one-shot=true".into(),
            ));
        }
        let record = self.resolve(what)?;
        let (tx, rx) = mpsc::channel(2);
        let svc = self.clone();
        tokio::spawn(async move {
            let mut sampler = Sampler::default();
            let mut previous: Option<ContainerStatsResponse> = None;
            // Without `stream` nor `one-shot`, a first sample only primes
            // the second one's `precpu_stats`.
            let mut priming = !opts.stream && !opts.one_shot;
            loop {
                let Some(current) = svc.store.get(&record.id) else {
                    return; // removed
                };
                if !current.state.status.is_live() {
                    previous = None;
                    if tx.send(empty_sample(&current)).await.is_err() || !opts.stream {
                        return;
                    }
                } else {
                    let (mut s, back) =
                        tokio::task::spawn_blocking(move || (sampler.sample(&current), sampler))
                            .await
                            .unwrap_or_else(|_| (empty_sample(&record), Sampler::default()));
                    sampler = back;
                    if let Some(prev) = &previous {
                        s.precpu_stats = prev.cpu_stats.clone();
                        s.preread = prev.read;
                    }
                    previous = Some(s.clone());
                    let send = !std::mem::take(&mut priming);
                    if send && (tx.send(s).await.is_err() || !opts.stream) {
                        return;
                    }
                }
                // Without `stream`, the only wait is the priming one.
                let wait = if opts.stream {
                    INTERVAL
                } else {
                    PRIME_INTERVAL
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(rx)
    }
}

/// Docker's zero time, for samples never taken.
fn zero_time() -> time::OffsetDateTime {
    time::PrimitiveDateTime::new(
        time::Date::from_calendar_date(1, time::Month::January, 1).unwrap_or(time::Date::MIN),
        time::Time::MIDNIGHT,
    )
    .assume_utc()
}

fn zero_cpu() -> ContainerCpuStats {
    ContainerCpuStats {
        cpu_usage: Some(ContainerCpuUsage {
            total_usage: Some(0),
            percpu_usage: None,
            usage_in_kernelmode: Some(0),
            usage_in_usermode: Some(0),
        }),
        system_cpu_usage: None,
        online_cpus: None,
        throttling_data: Some(ContainerThrottlingData {
            periods: Some(0),
            throttled_periods: Some(0),
            throttled_time: Some(0),
        }),
    }
}

/// What dockerd answers for a container that is not running: its name and
/// id, every counter zero.
pub fn empty_sample(record: &ContainerRecord) -> ContainerStatsResponse {
    ContainerStatsResponse {
        id: Some(record.id.clone()),
        name: Some(format!("/{}", record.name)),
        os_type: Some("linux".into()),
        read: Some(zero_time()),
        preread: Some(zero_time()),
        cpu_stats: Some(zero_cpu()),
        precpu_stats: Some(zero_cpu()),
        memory_stats: Some(ContainerMemoryStats::default()),
        pids_stats: Some(ContainerPidsStats::default()),
        blkio_stats: Some(ContainerBlkioStats::default()),
        num_procs: Some(0),
        storage_stats: Some(ContainerStorageStats::default()),
        networks: None,
    }
}

/// Reads samples of one container, remembering where its cgroups are.
#[derive(Debug, Default)]
pub struct Sampler {
    found: Option<(i64, Cgroups)>,
}

impl Sampler {
    /// One sample of a running container (blocking: reads procfs and
    /// cgroupfs). Counters that cannot be read are left out.
    pub fn sample(&mut self, record: &ContainerRecord) -> ContainerStatsResponse {
        let pid = record.state.pid;
        let now = time::OffsetDateTime::now_utc();
        if self.found.as_ref().is_none_or(|(p, _)| *p != pid) {
            self.found = Cgroups::of_pid(pid, &record.id).ok().map(|c| (pid, c));
        }
        let mut s = empty_sample(record);
        s.read = Some(now);
        let host = HostCpu::read();
        let mem_total = host_memory();
        if let Some((_, cg)) = &self.found {
            s.cpu_stats = Some(cpu_stats(cg, &host));
            s.memory_stats = Some(memory_stats(cg, mem_total));
            s.pids_stats = Some(pids_stats(cg));
            s.blkio_stats = Some(blkio_stats(cg));
        }
        s.networks = std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
            .ok()
            .map(|t| net_dev(&t));
        s
    }
}

/// The host's CPU time (nanoseconds) and online CPUs, from `/proc/stat`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct HostCpu {
    system_usage: u64,
    online: u32,
}

impl HostCpu {
    fn read() -> Self {
        Self::parse(&std::fs::read_to_string("/proc/stat").unwrap_or_default())
    }

    /// dockerd's `getSystemCPUUsage`: the first seven fields of the `cpu`
    /// line in ticks, and the number of `cpuN` lines.
    fn parse(text: &str) -> Self {
        let mut out = HostCpu::default();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("cpu") => {
                    let ticks: u64 = fields.take(7).filter_map(|v| v.parse::<u64>().ok()).sum();
                    out.system_usage = ticks * (NANOS_PER_SEC / CLOCK_TICKS);
                }
                Some(c) if c.starts_with("cpu") => out.online += 1,
                _ => {}
            }
        }
        out
    }
}

/// Total host memory in bytes (`MemTotal`).
fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A `key value` file (`memory.stat`, `cpu.stat`, `cpuacct.stat`).
fn read_map(path: &Path) -> HashMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// A limit file: a number, or `max` (none: 0).
fn read_limit(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    match text.trim() {
        "max" => Some(0),
        v => v.parse().ok(),
    }
}

fn cpu_stats(cg: &Cgroups, host: &HostCpu) -> ContainerCpuStats {
    let mut out = zero_cpu();
    out.system_cpu_usage = Some(host.system_usage);
    out.online_cpus = Some(host.online);
    if let Some(dir) = cg.v1("cpuacct") {
        let stat = read_map(&dir.join("cpuacct.stat"));
        let per_tick = NANOS_PER_SEC / CLOCK_TICKS;
        out.cpu_usage = Some(ContainerCpuUsage {
            total_usage: read_u64(&dir.join("cpuacct.usage")).or(Some(0)),
            percpu_usage: std::fs::read_to_string(dir.join("cpuacct.usage_percpu"))
                .ok()
                .map(|t| {
                    t.split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect()
                }),
            usage_in_kernelmode: Some(stat.get("system").copied().unwrap_or(0) * per_tick),
            usage_in_usermode: Some(stat.get("user").copied().unwrap_or(0) * per_tick),
        });
        if let Some(cpu) = cg.v1("cpu") {
            let t = read_map(&cpu.join("cpu.stat"));
            out.throttling_data = Some(throttling(&t, "throttled_time", 1));
        }
    } else if let Some(dir) = cg.v2() {
        let stat = read_map(&dir.join("cpu.stat"));
        let us = |k: &str| Some(stat.get(k).copied().unwrap_or(0) * 1000);
        out.cpu_usage = Some(ContainerCpuUsage {
            total_usage: us("usage_usec"),
            percpu_usage: None,
            usage_in_kernelmode: us("system_usec"),
            usage_in_usermode: us("user_usec"),
        });
        out.throttling_data = Some(throttling(&stat, "throttled_usec", 1000));
    }
    out
}

fn throttling(stat: &HashMap<String, u64>, time_key: &str, scale: u64) -> ContainerThrottlingData {
    let get = |k: &str| stat.get(k).copied().unwrap_or(0);
    ContainerThrottlingData {
        periods: Some(get("nr_periods")),
        throttled_periods: Some(get("nr_throttled")),
        throttled_time: Some(get(time_key) * scale),
    }
}

fn memory_stats(cg: &Cgroups, host_total: u64) -> ContainerMemoryStats {
    // No limit (or one above the host's memory) reads as the host's memory.
    let cap = |limit: Option<u64>| {
        Some(match limit {
            Some(l) if l > 0 && (host_total == 0 || l < host_total) => l,
            _ => host_total,
        })
    };
    if let Some(dir) = cg.v1("memory") {
        ContainerMemoryStats {
            usage: read_u64(&dir.join("memory.usage_in_bytes")),
            max_usage: read_u64(&dir.join("memory.max_usage_in_bytes")),
            stats: Some(read_map(&dir.join("memory.stat"))),
            failcnt: read_u64(&dir.join("memory.failcnt")),
            limit: cap(read_u64(&dir.join("memory.limit_in_bytes"))),
            ..Default::default()
        }
    } else if let Some(dir) = cg.v2() {
        ContainerMemoryStats {
            usage: read_u64(&dir.join("memory.current")),
            stats: Some(read_map(&dir.join("memory.stat"))),
            limit: cap(read_limit(&dir.join("memory.max"))),
            ..Default::default()
        }
    } else {
        ContainerMemoryStats::default()
    }
}

fn pids_stats(cg: &Cgroups) -> ContainerPidsStats {
    let Some(dir) = cg.v1("pids").or(cg.v2()) else {
        return ContainerPidsStats::default();
    };
    ContainerPidsStats {
        current: read_u64(&dir.join("pids.current")),
        limit: read_limit(&dir.join("pids.max")).filter(|l| *l > 0),
    }
}

fn blkio_stats(cg: &Cgroups) -> ContainerBlkioStats {
    if let Some(dir) = cg.v1("blkio") {
        let read = |name: &str| {
            // The CFQ files are empty with other schedulers: use the
            // throttle layer's counters then, as containerd does.
            let direct = blkio_v1(
                &std::fs::read_to_string(dir.join(format!("blkio.{name}"))).unwrap_or_default(),
            );
            if direct.is_empty() {
                blkio_v1(
                    &std::fs::read_to_string(dir.join(format!("blkio.throttle.{name}")))
                        .unwrap_or_default(),
                )
            } else {
                direct
            }
        };
        // Every CFQ counter dockerd reports on v1 (empty lists with other
        // schedulers, as dockerd's).
        ContainerBlkioStats {
            io_service_bytes_recursive: Some(read("io_service_bytes_recursive")),
            io_serviced_recursive: Some(read("io_serviced_recursive")),
            io_queue_recursive: Some(read("io_queued_recursive")),
            io_service_time_recursive: Some(read("io_service_time_recursive")),
            io_wait_time_recursive: Some(read("io_wait_time_recursive")),
            io_merged_recursive: Some(read("io_merged_recursive")),
            io_time_recursive: Some(read("time_recursive")),
            sectors_recursive: Some(read("sectors_recursive")),
        }
    } else if let Some(dir) = cg.v2() {
        ContainerBlkioStats {
            io_service_bytes_recursive: Some(io_stat_v2(
                &std::fs::read_to_string(dir.join("io.stat")).unwrap_or_default(),
            )),
            ..Default::default()
        }
    } else {
        ContainerBlkioStats::default()
    }
}

/// v1 `blkio.*_recursive`: `MAJ:MIN Op value` lines (and a `Total` line).
fn blkio_v1(text: &str) -> Vec<ContainerBlkioStatEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, op, value) = (f.next()?, f.next()?, f.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(ContainerBlkioStatEntry {
                major: major.parse().ok(),
                minor: minor.parse().ok(),
                op: Some(op.to_owned()),
                value: value.parse().ok(),
            })
        })
        .collect()
}

/// v2 `io.stat`: `MAJ:MIN rbytes=… wbytes=… …` → docker's `read` / `write`
/// byte entries.
fn io_stat_v2(text: &str) -> Vec<ContainerBlkioStatEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let op = match k {
                "rbytes" => "read",
                "wbytes" => "write",
                _ => continue,
            };
            out.push(ContainerBlkioStatEntry {
                major: major.parse().ok(),
                minor: minor.parse().ok(),
                op: Some(op.to_owned()),
                value: v.parse().ok(),
            });
        }
    }
    out
}

/// `/proc/<pid>/net/dev` of the container's network namespace.
fn net_dev(text: &str) -> HashMap<String, ContainerNetworkStats> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.len() < 12 {
                return None;
            }
            Some((
                name.trim().to_owned(),
                ContainerNetworkStats {
                    rx_bytes: Some(v[0]),
                    rx_packets: Some(v[1]),
                    rx_errors: Some(v[2]),
                    rx_dropped: Some(v[3]),
                    tx_bytes: Some(v[8]),
                    tx_packets: Some(v[9]),
                    tx_errors: Some(v[10]),
                    tx_dropped: Some(v[11]),
                    ..Default::default()
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_cpu_usage_and_online_cpus_as_dockerd_counts_them() {
        let h = HostCpu::parse(
            "cpu  10 1 5 100 4 0 2 7 0 0\ncpu0 5 0 2 50 2 0 1 3 0 0\ncpu1 5 1 3 50 2 0 1 4 0 0\nintr 1\n",
        );
        // 10+1+5+100+4+0+2 ticks, steal excluded.
        assert_eq!(h.system_usage, 122 * 10_000_000);
        assert_eq!(h.online, 2);
    }

    #[test]
    fn blkio_in_both_layouts() {
        let v1 = blkio_v1("8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n");
        assert_eq!(v1.len(), 3);
        assert_eq!(v1[0].op.as_deref(), Some("Read"));
        assert_eq!(
            (v1[1].major, v1[1].minor, v1[1].value),
            (Some(8), Some(0), Some(512))
        );
        let v2 = io_stat_v2("253:0 rbytes=100 wbytes=7 rios=1 wios=1 dbytes=0 dios=0\n");
        assert_eq!(v2.len(), 2);
        assert_eq!(
            (v2[0].op.as_deref(), v2[0].value),
            (Some("read"), Some(100))
        );
        assert_eq!((v2[1].op.as_deref(), v2[1].value), (Some("write"), Some(7)));
    }

    #[test]
    fn network_interfaces_from_net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0
  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0
";
        let n = net_dev(text);
        assert_eq!(n["lo"].rx_bytes, Some(140));
        assert_eq!(n["lo"].tx_packets, Some(2));
        assert_eq!(
            (
                n["eth0"].rx_errors,
                n["eth0"].rx_dropped,
                n["eth0"].tx_bytes,
                n["eth0"].tx_dropped
            ),
            (Some(1), Some(2), Some(2000), Some(4))
        );
    }

    fn fake_v2(dir: &Path) -> Cgroups {
        let cg = dir.join("skiff/c1");
        std::fs::create_dir_all(&cg).expect("mkdir");
        for (f, text) in [
            (
                "cpu.stat",
                "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 30\n",
            ),
            ("memory.current", "1048576\n"),
            ("memory.max", "max\n"),
            ("memory.stat", "anon 4096\ninactive_file 8192\n"),
            ("pids.current", "3\n"),
            ("pids.max", "100\n"),
            (
                "io.stat",
                "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
            ),
        ] {
            std::fs::write(cg.join(f), text).expect("write");
        }
        let mounts = format!("35 24 0:30 / {} rw - cgroup2 cgroup2 rw\n", dir.display());
        Cgroups::parse("0::/skiff/c1\n", &mounts, "c1")
    }

    #[test]
    fn v2_counters_in_dockers_units() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cg = fake_v2(dir.path());
        let host = HostCpu {
            system_usage: 5,
            online: 2,
        };
        let cpu = cpu_stats(&cg, &host);
        let usage = cpu.cpu_usage.expect("usage");
        assert_eq!(usage.total_usage, Some(2_000_000));
        assert_eq!(usage.usage_in_usermode, Some(1_500_000));
        assert_eq!(usage.usage_in_kernelmode, Some(500_000));
        assert_eq!(usage.percpu_usage, None);
        assert_eq!((cpu.system_cpu_usage, cpu.online_cpus), (Some(5), Some(2)));
        let t = cpu.throttling_data.expect("throttling");
        assert_eq!(
            (t.periods, t.throttled_periods, t.throttled_time),
            (Some(4), Some(1), Some(30_000))
        );
        let mem = memory_stats(&cg, 1 << 30);
        assert_eq!(mem.usage, Some(1_048_576));
        assert_eq!(mem.limit, Some(1 << 30), "no limit: the host's memory");
        assert_eq!(mem.stats.expect("stats")["inactive_file"], 8192);
        assert_eq!(mem.max_usage, None);
        let pids = pids_stats(&cg);
        assert_eq!((pids.current, pids.limit), (Some(3), Some(100)));
        let io = blkio_stats(&cg).io_service_bytes_recursive.expect("io");
        assert_eq!(io.iter().filter_map(|e| e.value).sum::<u64>(), 30);
    }

    #[test]
    fn v1_counters_in_dockers_units() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for (ctrl, files) in [
            (
                "cpuacct",
                vec![
                    ("cpuacct.usage", "3000\n"),
                    ("cpuacct.usage_percpu", "1000 2000 \n"),
                    ("cpuacct.stat", "user 3\nsystem 1\n"),
                ],
            ),
            (
                "cpu",
                vec![(
                    "cpu.stat",
                    "nr_periods 2\nnr_throttled 0\nthrottled_time 0\n",
                )],
            ),
            (
                "memory",
                vec![
                    ("memory.usage_in_bytes", "4096\n"),
                    ("memory.max_usage_in_bytes", "8192\n"),
                    ("memory.failcnt", "0\n"),
                    ("memory.limit_in_bytes", "9223372036854771712\n"),
                    ("memory.stat", "total_inactive_file 1024\n"),
                ],
            ),
            ("pids", vec![("pids.current", "1\n"), ("pids.max", "max\n")]),
            (
                "blkio",
                vec![
                    ("blkio.io_service_bytes_recursive", "Total 0\n"),
                    (
                        "blkio.throttle.io_service_bytes_recursive",
                        "8:0 Read 5\nTotal 5\n",
                    ),
                ],
            ),
        ] {
            let d = root.join(ctrl).join("skiff/c1");
            std::fs::create_dir_all(&d).expect("mkdir");
            for (f, t) in files {
                std::fs::write(d.join(f), t).expect("write");
            }
        }
        let mut mounts = String::new();
        let mut own = String::new();
        for (i, ctrl) in ["cpuacct", "cpu", "memory", "pids", "blkio"]
            .iter()
            .enumerate()
        {
            mounts.push_str(&format!(
                "{i} 1 0:{i} / {} rw - cgroup cgroup rw,{ctrl}\n",
                root.join(ctrl).display()
            ));
            own.push_str(&format!("{i}:{ctrl}:/skiff/c1\n"));
        }
        let cg = Cgroups::parse(&own, &mounts, "c1");
        let cpu = cpu_stats(&cg, &HostCpu::default());
        let usage = cpu.cpu_usage.expect("usage");
        assert_eq!(usage.total_usage, Some(3000));
        assert_eq!(usage.percpu_usage, Some(vec![1000, 2000]));
        assert_eq!(usage.usage_in_usermode, Some(30_000_000));
        assert_eq!(usage.usage_in_kernelmode, Some(10_000_000));
        let mem = memory_stats(&cg, 1 << 30);
        assert_eq!(
            (mem.usage, mem.max_usage, mem.failcnt),
            (Some(4096), Some(8192), Some(0))
        );
        assert_eq!(
            mem.limit,
            Some(1 << 30),
            "the v1 'unlimited' value is capped"
        );
        let pids = pids_stats(&cg);
        assert_eq!((pids.current, pids.limit), (Some(1), None));
        let io = blkio_stats(&cg).io_service_bytes_recursive.expect("io");
        assert_eq!(
            io.len(),
            1,
            "the throttle counters when the CFQ ones are empty"
        );
    }

    #[test]
    fn a_stopped_container_has_only_name_and_id() {
        let record: ContainerRecord = serde_json::from_value(serde_json::json!({
            "id": "c1", "name": "web", "created": "", "image": "busybox",
            "image_id": format!("sha256:{}", "a".repeat(64)), "path": "sh", "args": [],
            "config": {}, "host_config": {}, "state": {
                "status": "exited", "pid": 0, "exit_code": 0, "error": "",
                "started_at": "", "finished_at": "", "oom_killed": false
            }
        }))
        .expect("record");
        let json = serde_json::to_value(empty_sample(&record)).expect("json");
        assert_eq!(json["name"], "/web");
        assert_eq!(json["id"], "c1");
        assert_eq!(json["read"], "0001-01-01T00:00:00Z");
        assert_eq!(json["cpu_stats"]["cpu_usage"]["total_usage"], 0);
        assert!(json.get("networks").is_none());
    }
}
