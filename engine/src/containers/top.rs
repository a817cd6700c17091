//! `docker top`: the processes in a container's cgroup.
//!
//! With docker's default arguments (none, or `-ef`) the table is built from
//! `/proc` in `ps -ef`'s columns (`UID PID PPID C STIME TTY TIME CMD`, host
//! pids, user names from the host's `/etc/passwd`, as `ps` on the host
//! shows them). Other `ps_args` run the host's `ps` with them, as dockerd
//! does, keeping the rows whose `PID` is one of the container's.

use std::collections::HashMap;
use std::process::Command;

use super::ContainerService;
use super::error::ContainerError;
use super::record::Status;
use super::stats::cgroup::Cgroups;

/// `USER_HZ`, the unit of `/proc/<pid>/stat` times.
const CLOCK_TICKS: u64 = 100;

/// The answer of `top`: column titles and one row per process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Top {
    /// Column titles.
    pub titles: Vec<String>,
    /// Rows, each as long as `titles`.
    pub processes: Vec<Vec<String>>,
}

impl ContainerService {
    /// `GET /containers/{id}/top?ps_args=` (blocking: reads `/proc`, may
    /// run `ps`).
    pub fn top(&self, what: &str, ps_args: &str) -> Result<Top, ContainerError> {
        let record = self.resolve(what)?;
        match record.state.status {
            Status::Running | Status::Paused => {}
            Status::Restarting => {
                return Err(ContainerError::Conflict(format!(
                    "Container {} is restarting, wait until the container is running",
                    record.id
                )));
            }
            _ => {
                return Err(ContainerError::Conflict(format!(
                    "Container {} is not running",
                    record.id
                )));
            }
        }
        validate_ps_args(ps_args)?;
        let not_running =
            || ContainerError::Conflict(format!("Container {} is not running", record.id));
        let pids = Cgroups::of_pid(record.state.pid, &record.id)
            .and_then(|c| c.pids())
            .map_err(|_| not_running())?;
        let args = ps_args.trim();
        let top = if args.is_empty() || args == "-ef" {
            let now = time::OffsetDateTime::now_utc();
            let host = HostClock::read();
            let users = host_users();
            let processes = pids
                .iter()
                .filter_map(|pid| ps_ef_row(*pid, &host, now, &users))
                .collect();
            Top {
                titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
                    .map(str::to_owned)
                    .to_vec(),
                processes,
            }
        } else {
            run_ps(args, &pids)?
        };
        // dockerd publishes each top.
        self.record_event("top", &record, &[]);
        Ok(top)
    }
}

/// dockerd refuses `-o x=PID…` unless it is `pid=…`, which would hide the
/// PID column it needs.
fn validate_ps_args(args: &str) -> Result<(), ContainerError> {
    for word in args.split_whitespace().skip(1) {
        if let Some((k, v)) = word.split_once('=')
            && v.starts_with("PID")
            && k != "pid"
        {
            return Err(ContainerError::InvalidArgument(format!(
                "specifying \"{k}={v}\" is not allowed"
            )));
        }
    }
    Ok(())
}

/// The host's `ps` with the user's arguments, filtered to `pids`.
fn run_ps(args: &str, pids: &[i32]) -> Result<Top, ContainerError> {
    let args: Vec<&str> = args.split(' ').filter(|a| !a.is_empty()).collect();
    let list = pids
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let run = |extra: Option<&str>| {
        let mut cmd = Command::new("ps");
        cmd.args(&args);
        if let Some(e) = extra {
            cmd.args(["-q", e]);
        }
        cmd.output()
    };
    // `-q` narrows ps to the container's pids; some options refuse it.
    let out = match run(Some(&list)) {
        Ok(o) if o.status.success() => o,
        _ => run(None).map_err(|e| ContainerError::io("Error running ps", e))?,
    };
    if !out.status.success() {
        return Err(ContainerError::Runtime(format!(
            "Error running ps: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_ps(&String::from_utf8_lossy(&out.stdout), pids)
}

/// dockerd's `parsePSOutput`: titles from the header, rows whose `PID`
/// column is one of `pids`, the last column holding the rest of the line.
fn parse_ps(output: &str, pids: &[i32]) -> Result<Top, ContainerError> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ContainerError::Runtime("Couldn't find PID field in ps output".into()))?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            return Err(ContainerError::Runtime(format!(
                "Unexpected pid '{}': invalid syntax",
                fields.get(pid_col).unwrap_or(&"")
            )));
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        if row.len() > titles.len() && !titles.is_empty() {
            let tail = row.split_off(titles.len() - 1).join(" ");
            row.push(tail);
        }
        processes.push(row);
    }
    Ok(Top { titles, processes })
}

/// Boot time and uptime, for process start times and `C`.
#[derive(Debug, Clone, Copy, Default)]
struct HostClock {
    /// Unix seconds at boot (`btime`).
    boot: i64,
    /// Seconds since boot.
    uptime: f64,
}

impl HostClock {
    fn read() -> Self {
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0);
        let uptime = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
            .unwrap_or(0.0);
        Self { boot, uptime }
    }
}

/// uid → name from the host's `/etc/passwd`.
fn host_users() -> HashMap<u32, String> {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

/// The fields of `/proc/<pid>/stat` that `ps -ef` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProcStat {
    comm: String,
    ppid: i32,
    tty_nr: u64,
    /// utime + stime, in ticks.
    cpu_ticks: u64,
    /// Ticks after boot.
    start_ticks: u64,
}

fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let f: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(ProcStat {
        comm,
        ppid: f.get(1)?.parse().ok()?,
        tty_nr: num(4)?,
        cpu_ticks: num(11)? + num(12)?,
        start_ticks: num(19)?,
    })
}

/// `pts/3`, `tty1`, `ttyS0` or `?`, as `ps` names a `tty_nr`.
fn tty_name(tty_nr: u64) -> String {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => "?".into(),
    }
}

/// `[DD-]HH:MM:SS`.
fn cpu_time(ticks: u64) -> String {
    let secs = ticks / CLOCK_TICKS;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// `HH:MM` within the last day, `MonDD` within the year, else the year.
fn start_time(started: time::OffsetDateTime, now: time::OffsetDateTime) -> String {
    if now - started < time::Duration::days(1) {
        format!("{:02}:{:02}", started.hour(), started.minute())
    } else if started.year() == now.year() {
        let month = format!("{:?}", started.month());
        format!("{}{:02}", &month[..3], started.day())
    } else {
        started.year().to_string()
    }
}

/// `ps` shows names up to 8 characters, longer ones cut with a `+`.
fn user_column(uid: u32, users: &HashMap<u32, String>) -> String {
    match users.get(&uid) {
        Some(n) if n.chars().count() > 8 => format!("{}+", n.chars().take(7).collect::<String>()),
        Some(n) => n.clone(),
        None => uid.to_string(),
    }
}

fn ps_ef_row(
    pid: i32,
    host: &HostClock,
    now: time::OffsetDateTime,
    users: &HashMap<u32, String>,
) -> Option<Vec<String>> {
    let stat = parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let cmd = if args.is_empty() {
        format!("[{}]", stat.comm)
    } else {
        args.join(" ")
    };
    let started_secs = stat.start_ticks as f64 / CLOCK_TICKS as f64;
    let started =
        time::OffsetDateTime::from_unix_timestamp(host.boot + started_secs as i64).unwrap_or(now);
    let elapsed = host.uptime - started_secs;
    let c = if elapsed > 0.0 {
        ((stat.cpu_ticks as f64 / CLOCK_TICKS as f64) * 100.0 / elapsed).min(99.0) as u64
    } else {
        0
    };
    Some(vec![
        user_column(euid, users),
        pid.to_string(),
        stat.ppid.to_string(),
        c.to_string(),
        start_time(started, now),
        tty_name(stat.tty_nr),
        cpu_time(stat.cpu_ticks),
        cmd,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_with_spaces_and_parens_in_comm() {
        let s = parse_stat("42 (my (odd) cmd) S 7 42 42 34816 42 4194560 100 0 0 0 250 50 0 0 20 0 1 0 12345 100 1 18446744073709551615")
            .expect("parse");
        assert_eq!(s.comm, "my (odd) cmd");
        assert_eq!(s.ppid, 7);
        assert_eq!(tty_name(s.tty_nr), "pts/0");
        assert_eq!(s.cpu_ticks, 300);
        assert_eq!(s.start_ticks, 12345);
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn ps_columns() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name((4 << 8) | 1), "tty1");
        assert_eq!(tty_name((136 << 8) | 5), "pts/5");
        assert_eq!(cpu_time(0), "00:00:00");
        assert_eq!(cpu_time(100 * 3725), "01:02:05");
        assert_eq!(cpu_time(100 * (86_400 + 61)), "1-00:01:01");
        let at = |y, m, d, h| {
            time::Date::from_calendar_date(y, m, d)
                .expect("date")
                .with_hms(h, 7, 0)
                .expect("time")
                .assume_utc()
        };
        let now = at(2025, time::Month::June, 15, 12);
        assert_eq!(start_time(at(2025, time::Month::June, 15, 9), now), "09:07");
        assert_eq!(start_time(at(2025, time::Month::March, 2, 9), now), "Mar02");
        assert_eq!(start_time(at(2023, time::Month::March, 2, 9), now), "2023");
        let users = HashMap::from([(0, "root".to_owned()), (100, "systemd-resolve".to_owned())]);
        assert_eq!(user_column(0, &users), "root");
        assert_eq!(user_column(100, &users), "systemd+");
        assert_eq!(user_column(5, &users), "5");
    }

    #[test]
    fn ps_output_is_filtered_to_the_containers_pids() {
        let out = "  PID TTY      STAT   TIME COMMAND\n    1 ?        Ss     0:01 /sbin/init splash\n  300 pts/0    S+     0:00 sleep 1000\n";
        let top = parse_ps(out, &[300]).expect("parse");
        assert_eq!(top.titles, ["PID", "TTY", "STAT", "TIME", "COMMAND"]);
        assert_eq!(
            top.processes,
            vec![vec!["300", "pts/0", "S+", "0:00", "sleep 1000"]]
        );
        assert!(parse_ps("USER COMMAND\nroot x\n", &[1]).is_err());
    }

    #[test]
    fn ps_args_renaming_pid_are_refused() {
        assert!(validate_ps_args("-o pid=PID,comm").is_ok());
        assert!(validate_ps_args("-o user=PID").is_err());
        assert!(validate_ps_args("aux").is_ok());
    }

    #[test]
    fn our_own_process_has_a_full_row() {
        let row = ps_ef_row(
            std::process::id() as i32,
            &HostClock::read(),
            time::OffsetDateTime::now_utc(),
            &host_users(),
        )
        .expect("row");
        assert_eq!(row.len(), 8);
        assert_eq!(row[1], std::process::id().to_string());
        assert!(!row[7].is_empty());
    }
}
