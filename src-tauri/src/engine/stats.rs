//! A container's live resource usage: the engine's `/stats` stream (one
//! sample a second while the container runs), each sample reduced to what
//! the Stats tab charts and emitted as a `container-stats` event, while
//! the user has the tab open (`follow_stats` … `stop_stats`). Nothing is
//! read when nobody looks.

use std::sync::Arc;

use bollard::models::{ContainerBlkioStatEntry, ContainerStatsResponse};
use bollard::query_parameters::StatsOptions;
use futures_util::StreamExt;
use serde::Serialize;

use super::Engine;
use super::logs::Followers;
use crate::error::Result;

/// The stats streams open now, one per container (a registry of its own,
/// beside the log followers').
#[derive(Debug, Clone, Default)]
pub struct StatsFollowers(pub Followers);

/// A `container-stats` event: one sample, with counters as totals (the UI
/// turns network and block I/O totals into rates between samples).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsSample {
    /// The container as the UI named it in `follow_stats`.
    pub id: String,
    /// When the engine read the sample (Unix milliseconds; 0 if unknown).
    pub at: i64,
    /// CPU use since the previous sample, in percent of one CPU (docker
    /// stats' figure: up to 100 × CPUs).
    pub cpu_percent: f64,
    /// Memory in use without the page cache (as `docker stats`).
    pub memory: u64,
    /// The memory limit (the machine's memory when unlimited).
    pub memory_limit: u64,
    /// Bytes received, all interfaces.
    pub net_rx: u64,
    /// Bytes sent, all interfaces.
    pub net_tx: u64,
    /// Bytes read from block devices.
    pub block_read: u64,
    /// Bytes written to block devices.
    pub block_write: u64,
}

/// Reduces an engine sample to a [`StatsSample`] with `docker stats`'
/// arithmetic: CPU from the deltas of the container's and the system's
/// CPU time scaled by the online CPUs; memory less the inactive file
/// cache (`inactive_file` on cgroup v2, `total_inactive_file` on v1).
pub fn sample(id: &str, stats: &ContainerStatsResponse) -> StatsSample {
    let total = |s: &Option<bollard::models::ContainerCpuStats>| {
        s.as_ref()
            .and_then(|c| c.cpu_usage.as_ref())
            .and_then(|u| u.total_usage)
            .unwrap_or(0)
    };
    let system = |s: &Option<bollard::models::ContainerCpuStats>| {
        s.as_ref().and_then(|c| c.system_cpu_usage).unwrap_or(0)
    };
    let cpu_delta = total(&stats.cpu_stats).saturating_sub(total(&stats.precpu_stats));
    let system_delta = system(&stats.cpu_stats).saturating_sub(system(&stats.precpu_stats));
    let cpus = stats
        .cpu_stats
        .as_ref()
        .and_then(|c| {
            c.online_cpus.filter(|n| *n > 0).or_else(|| {
                c.cpu_usage
                    .as_ref()
                    .and_then(|u| u.percpu_usage.as_ref())
                    .map(|p| p.len() as u32)
            })
        })
        .unwrap_or(1);
    let cpu_percent = if cpu_delta > 0 && system_delta > 0 {
        cpu_delta as f64 / system_delta as f64 * f64::from(cpus) * 100.0
    } else {
        0.0
    };
    let memory = stats.memory_stats.as_ref();
    let usage = memory.and_then(|m| m.usage).unwrap_or(0);
    let cache = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|s| {
            s.get("inactive_file")
                .or_else(|| s.get("total_inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    let (net_rx, net_tx) =
        stats
            .networks
            .iter()
            .flat_map(|n| n.values())
            .fold((0u64, 0u64), |(rx, tx), n| {
                (
                    rx.saturating_add(n.rx_bytes.unwrap_or(0)),
                    tx.saturating_add(n.tx_bytes.unwrap_or(0)),
                )
            });
    let entries: &[ContainerBlkioStatEntry] = stats
        .blkio_stats
        .as_ref()
        .and_then(|b| b.io_service_bytes_recursive.as_deref())
        .unwrap_or_default();
    let op_total = |op: &str| {
        entries
            .iter()
            .filter(|e| e.op.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(op)))
            .fold(0u64, |sum, e| sum.saturating_add(e.value.unwrap_or(0)))
    };
    StatsSample {
        id: id.to_string(),
        at: stats
            .read
            .map_or(0, |t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
        cpu_percent,
        memory: usage.saturating_sub(cache),
        memory_limit: memory.and_then(|m| m.limit).unwrap_or(0),
        net_rx,
        net_tx,
        block_read: op_total("read"),
        block_write: op_total("write"),
    }
}

/// Receives samples.
pub type StatsSink = Arc<dyn Fn(StatsSample) + Send + Sync>;

impl StatsFollowers {
    /// Streams container `id`'s stats to `sink` (replacing a stream of the
    /// same id) until [`StatsFollowers::stop`] or the stream ends (the
    /// container stopped). Fails when the container does not exist.
    pub async fn follow(&self, engine: &Engine, id: &str, sink: StatsSink) -> Result<()> {
        let id = engine.existing_container(id).await?;
        let conn = engine.connection().await?;
        let key = id.clone();
        self.0.run(id, async move {
            let options = StatsOptions {
                stream: true,
                one_shot: false,
            };
            let mut stream = conn.docker.stats(&key, Some(options));
            while let Some(Ok(stats)) = stream.next().await {
                sink(sample(&key, &stats));
            }
        });
        Ok(())
    }

    /// Stops streaming container `id`'s stats; false when none streamed.
    pub fn stop(&self, id: &str) -> bool {
        self.0.stop(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(json: serde_json::Value) -> ContainerStatsResponse {
        serde_json::from_value(json).expect("a stats document")
    }

    #[test]
    fn a_cgroup_v2_sample_as_docker_stats_computes_it() {
        let s = stats(serde_json::json!({
            "read": "2026-12-07T18:00:01.5Z",
            "cpu_stats": { "cpu_usage": { "total_usage": 3_000_000_000u64 },
                           "system_cpu_usage": 20_000_000_000u64, "online_cpus": 4 },
            "precpu_stats": { "cpu_usage": { "total_usage": 2_000_000_000u64 },
                              "system_cpu_usage": 16_000_000_000u64 },
            "memory_stats": { "usage": 50_000_000u64, "limit": 2_000_000_000u64,
                              "stats": { "inactive_file": 10_000_000u64 } },
            "networks": { "eth0": { "rx_bytes": 1000, "tx_bytes": 200 },
                          "eth1": { "rx_bytes": 24, "tx_bytes": 6 } },
            "blkio_stats": { "io_service_bytes_recursive": [
                { "major": 8, "minor": 0, "op": "read", "value": 4096 },
                { "major": 8, "minor": 0, "op": "write", "value": 8192 },
                { "major": 8, "minor": 16, "op": "Write", "value": 1 } ] }
        }));
        let got = sample("web", &s);
        // 1 s of CPU over 4 s of system time on 4 CPUs: one CPU busy.
        assert!(
            (got.cpu_percent - 100.0).abs() < 1e-9,
            "{}",
            got.cpu_percent
        );
        assert_eq!(got.memory, 40_000_000);
        assert_eq!(got.memory_limit, 2_000_000_000);
        assert_eq!((got.net_rx, got.net_tx), (1024, 206));
        assert_eq!((got.block_read, got.block_write), (4096, 8193));
        assert_eq!(got.at, 1_796_666_401_500);
        assert_eq!(got.id, "web");
    }

    #[test]
    fn a_first_or_stopped_sample_is_zero_not_nan() {
        let got = sample(
            "x",
            &stats(serde_json::json!({
                "cpu_stats": { "cpu_usage": { "total_usage": 5 }, "system_cpu_usage": 0 },
                "memory_stats": { "usage": 10, "stats": { "total_inactive_file": 20 } }
            })),
        );
        assert_eq!(got.cpu_percent, 0.0);
        assert_eq!(got.memory, 0);
        assert_eq!((got.net_rx, got.block_write, got.at), (0, 0, 0));
    }
}
