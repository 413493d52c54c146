//! `loadgen doctor`: what on this machine makes numbers unstable, one line
//! per check, each saying whether it was checked and is fine, is a problem
//! (and what to do), or could not be checked (and why). Modelled on pyperf's
//! `system show`. Everything is read from /proc and /sys except the
//! descriptor limit; nothing is changed.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use super::machine::CpuTimes;
use crate::sys;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Checked and fine.
    Ok,
    /// Checked: this can make numbers unstable.
    Warn,
    /// Could not be checked here (a VM without the file, no permission, …).
    Unknown,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok     ",
            Status::Warn => "WARN   ",
            Status::Unknown => "unknown",
        })
    }
}

/// One finding.
#[derive(Debug, Clone)]
pub struct Finding {
    /// What was checked (stable, short).
    pub check: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was seen, and what to do about it.
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:<22} {}", self.status, self.check, self.detail)
    }
}

/// Every check's name, in the order they are printed.
pub const CHECKS: [&str; 11] = [
    "cpu-governor",
    "cpu-boost",
    "steal",
    "busy-processes",
    "smt-siblings",
    "isolated-cpus",
    "irq-affinity",
    "transparent-hugepages",
    "nofile-limit",
    "somaxconn",
    "ephemeral-ports",
];

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn finding(check: &'static str, status: Status, detail: impl Into<String>) -> Finding {
    Finding {
        check,
        status,
        detail: detail.into(),
    }
}

/// Parse a kernel CPU list (`0-3,5`).
fn cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b.min(a + 4096));
                }
            }
            None => out.extend(part.parse::<usize>()),
        }
    }
    out
}

/// Run every check. `server_cpu` / `client_cpus` are the placement a run
/// would use; sampling steal and busy processes takes `sample`.
pub fn diagnose(server_cpu: usize, client_cpus: &[usize], sample: Duration) -> Vec<Finding> {
    let chosen: Vec<usize> = std::iter::once(server_cpu)
        .chain(client_cpus.iter().copied())
        .collect();
    let mut out = clock_findings(&chosen);
    out.extend(sampled_findings(&chosen, sample));
    out.extend(placement_findings(server_cpu, client_cpus));
    out.extend(limit_findings());
    out
}

/// The clock of the chosen CPUs: frequency governor and boost.
fn clock_findings(chosen: &[usize]) -> Vec<Finding> {
    let mut out = Vec::new();
    // Frequency governor of the chosen CPUs.
    let governors: BTreeMap<usize, String> = chosen
        .iter()
        .filter_map(|&c| {
            read(&format!(
                "/sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor"
            ))
            .map(|g| (c, g))
        })
        .collect();
    out.push(if governors.is_empty() {
        finding(
            "cpu-governor",
            Status::Unknown,
            "no cpufreq in /sys (typical of a VM: the host decides the frequency)",
        )
    } else if governors.values().all(|g| g == "performance") {
        finding("cpu-governor", Status::Ok, "performance on the chosen CPUs")
    } else {
        finding(
            "cpu-governor",
            Status::Warn,
            format!(
                "{governors:?}: the frequency follows the load; use `cpupower frequency-set -g performance`"
            ),
        )
    });

    // Turbo / boost: the clock depends on temperature and on the other cores.
    let boost = read("/sys/devices/system/cpu/cpufreq/boost")
        .map(|b| b == "1")
        .or_else(|| read("/sys/devices/system/cpu/intel_pstate/no_turbo").map(|n| n == "0"));
    out.push(match boost {
        None => finding(
            "cpu-boost",
            Status::Unknown,
            "no boost control in /sys (VM or no driver support)",
        ),
        Some(true) => finding(
            "cpu-boost",
            Status::Warn,
            "turbo/boost on: the clock varies with load and temperature; turn it off for stable timings",
        ),
        Some(false) => finding("cpu-boost", Status::Ok, "off"),
    });

    out
}

/// What runs beside us, sampled over `sample`: steal, busy processes.
fn sampled_findings(chosen: &[usize], sample: Duration) -> Vec<Finding> {
    let mut out = Vec::new();
    // Steal and busy processes, sampled over the same interval.
    let before = CpuTimes::read();
    let procs_before = process_times();
    let start = Instant::now();
    std::thread::sleep(sample);
    let elapsed = start.elapsed().as_secs_f64();
    let after = CpuTimes::read();
    let procs_after = process_times();
    let steal = before.steal_pct_until(&after);
    out.push(if steal > 5.0 {
        finding(
            "steal",
            Status::Warn,
            format!("{steal:.1} % of CPU time stolen by the hypervisor over {elapsed:.1} s: timings will vary; compare by ratios within one run, or use a dedicated host"),
        )
    } else {
        finding(
            "steal",
            Status::Ok,
            format!("{steal:.1} % over {elapsed:.1} s"),
        )
    });
    out.push(busy_processes(&procs_before, &procs_after, chosen, elapsed));

    out
}

/// Where the server and the client run: SMT siblings, isolation, IRQs.
fn placement_findings(server_cpu: usize, client_cpus: &[usize]) -> Vec<Finding> {
    let mut out = Vec::new();
    // SMT: the server and a client CPU on one physical core share its units.
    let siblings = read(&format!(
        "/sys/devices/system/cpu/cpu{server_cpu}/topology/thread_siblings_list"
    ));
    out.push(match siblings {
        None => finding("smt-siblings", Status::Unknown, "no topology in /sys"),
        Some(list) => {
            let shared: Vec<usize> = cpu_list(&list)
                .into_iter()
                .filter(|c| *c != server_cpu && client_cpus.contains(c))
                .collect();
            if shared.is_empty() {
                finding(
                    "smt-siblings",
                    Status::Ok,
                    format!("server CPU {server_cpu} shares its core with no client CPU (siblings: {list})"),
                )
            } else {
                finding(
                    "smt-siblings",
                    Status::Warn,
                    format!("server CPU {server_cpu} and client CPU(s) {shared:?} are hyper-threads of one core: choose --client-cpus on other cores"),
                )
            }
        }
    });

    // Isolated CPUs keep the scheduler's other work off the measured ones.
    let isolated = read("/sys/devices/system/cpu/isolated").unwrap_or_default();
    let nohz = read("/sys/devices/system/cpu/nohz_full").unwrap_or_default();
    let iso = cpu_list(&isolated);
    out.push(if iso.contains(&server_cpu) {
        finding(
            "isolated-cpus",
            Status::Ok,
            format!("server CPU {server_cpu} is isolated (isolcpus={isolated}, nohz_full={nohz})"),
        )
    } else {
        finding(
            "isolated-cpus",
            Status::Warn,
            format!(
                "server CPU {server_cpu} is not isolated (isolated: {}); other tasks may run on it — boot with isolcpus=/nohz_full= for the quietest numbers",
                if isolated.is_empty() { "none" } else { &isolated }
            ),
        )
    });

    // IRQs: loopback traffic raises none, but other devices' IRQs can land on the chosen CPUs.
    out.push(match read("/proc/irq/default_smp_affinity") {
        None => finding(
            "irq-affinity",
            Status::Unknown,
            "/proc/irq/default_smp_affinity not readable",
        ),
        Some(mask) => finding(
            "irq-affinity",
            Status::Ok,
            format!("default IRQ affinity {mask}; loopback (127.0.0.1) raises no device IRQs, so only other devices' interrupts can land on the chosen CPUs"),
        ),
    });

    out
}

/// The system's limits: huge pages, descriptors, listen backlog, ports.
fn limit_findings() -> Vec<Finding> {
    let mut out = Vec::new();
    // Transparent huge pages: compaction stalls show up as latency spikes.
    out.push(
        match read("/sys/kernel/mm/transparent_hugepage/enabled") {
            None => finding(
                "transparent-hugepages",
                Status::Unknown,
                "no THP control in /sys",
            ),
            Some(t) if t.contains("[always]") => finding(
                "transparent-hugepages",
                Status::Warn,
                format!("{t}: background compaction can stall a process; `echo madvise > /sys/kernel/mm/transparent_hugepage/enabled`"),
            ),
            Some(t) => finding("transparent-hugepages", Status::Ok, t),
        },
    );

    // Descriptors: 10,000 connections need ~10,064 on each side.
    out.push(match sys::nofile_limit() {
        Err(e) => finding("nofile-limit", Status::Unknown, e.to_string()),
        Ok((soft, hard)) if hard < 20_000 => finding(
            "nofile-limit",
            Status::Warn,
            format!("soft {soft}, hard {hard}: fewer than 20,000 descriptors caps runs below ~10,000 connections per side; raise the hard limit (ulimit -Hn, limits.conf)"),
        ),
        Ok((soft, hard)) => finding(
            "nofile-limit",
            Status::Ok,
            format!("soft {soft}, hard {hard} (loadgen raises the soft limit to the hard one)"),
        ),
    });

    // Listen backlog: bursts of connects beyond it are dropped and retried.
    out.push(match read("/proc/sys/net/core/somaxconn").and_then(|s| s.parse::<u64>().ok()) {
        None => finding("somaxconn", Status::Unknown, "/proc/sys/net/core/somaxconn not readable"),
        Some(n) if n < 4096 => finding(
            "somaxconn",
            Status::Warn,
            format!("{n}: connect bursts beyond it wait for SYN retries (1 s); `sysctl net.core.somaxconn=4096`"),
        ),
        Some(n) => finding("somaxconn", Status::Ok, n.to_string()),
    });

    // Ephemeral ports: every client connection to 127.0.0.1 needs one.
    out.push(
        match read("/proc/sys/net/ipv4/ip_local_port_range").map(|s| {
            s.split_whitespace()
                .filter_map(|x| x.parse::<u64>().ok())
                .collect::<Vec<_>>()
        }) {
            Some(v) if v.len() == 2 => {
                let n = v[1].saturating_sub(v[0]) + 1;
                if n < 20_000 {
                    finding(
                        "ephemeral-ports",
                        Status::Warn,
                        format!("{}–{} ({n} ports): fewer than 20,000 caps concurrent client connections; widen net.ipv4.ip_local_port_range", v[0], v[1]),
                    )
                } else {
                    finding(
                        "ephemeral-ports",
                        Status::Ok,
                        format!("{}–{} ({n} ports)", v[0], v[1]),
                    )
                }
            }
            _ => finding(
                "ephemeral-ports",
                Status::Unknown,
                "/proc/sys/net/ipv4/ip_local_port_range not readable",
            ),
        },
    );
    out
}

/// Per process: (name, utime + stime in ticks, CPU it last ran on).
fn process_times() -> BTreeMap<u32, (String, u64, usize)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some(stat) = read(&format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ..." — comm may hold spaces; split after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map_or("?", |(_, n)| n).to_string();
        let f: Vec<&str> = rest.split_whitespace().collect();
        // After ')': state is field 3, so utime (14) is f[11], stime f[12], processor (39) f[36].
        let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        out.insert(pid, (name, ticks(11) + ticks(12), ticks(36) as usize));
    }
    out
}

fn busy_processes(
    before: &BTreeMap<u32, (String, u64, usize)>,
    after: &BTreeMap<u32, (String, u64, usize)>,
    chosen: &[usize],
    elapsed: f64,
) -> Finding {
    if after.is_empty() {
        return finding("busy-processes", Status::Unknown, "/proc not readable");
    }
    // USER_HZ is 100 on every Linux the project runs on.
    let hz = 100.0;
    let me = std::process::id();
    let mut busy: Vec<(f64, String, u32, usize)> = after
        .iter()
        .filter(|(pid, _)| **pid != me)
        .filter_map(|(pid, (name, t, cpu))| {
            let t0 = before.get(pid).map_or(0, |b| b.1);
            let pct = 100.0 * t.saturating_sub(t0) as f64 / hz / elapsed.max(1e-3);
            (pct >= 10.0 && chosen.contains(cpu)).then(|| (pct, name.clone(), *pid, *cpu))
        })
        .collect();
    busy.sort_by(|a, b| b.0.total_cmp(&a.0));
    if busy.is_empty() {
        finding(
            "busy-processes",
            Status::Ok,
            format!("no other process used ≥ 10 % of a chosen CPU ({chosen:?}) while sampling"),
        )
    } else {
        let list: Vec<String> = busy
            .iter()
            .take(5)
            .map(|(p, n, pid, cpu)| format!("{n} (pid {pid}, CPU {cpu}) {p:.0} %"))
            .collect();
        finding(
            "busy-processes",
            Status::Warn,
            format!(
                "busy on the chosen CPUs: {}; they compete with the server and the client",
                list.join(", ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(cpu_list("0-3,5"), vec![0, 1, 2, 3, 5]);
        assert_eq!(cpu_list(""), Vec::<usize>::new());
        assert_eq!(cpu_list("7"), vec![7]);
    }

    #[test]
    fn every_check_reports_once_in_order() {
        let found = diagnose(0, &[1], Duration::from_millis(50));
        let names: Vec<&str> = found.iter().map(|f| f.check).collect();
        assert_eq!(names, CHECKS);
        assert!(found.iter().all(|f| !f.detail.is_empty()));
    }
}
