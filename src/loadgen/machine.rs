//! What machine a run was made on, and how busy its CPUs were (steal).

use serde::{Deserialize, Serialize};

/// The machine, as every result row records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name from /proc/cpuinfo.
    pub cpu_model: String,
    /// Online CPUs.
    pub cores: usize,
    /// Kernel release (uname -r).
    pub kernel: String,
}

impl Machine {
    /// Read it from /proc.
    pub fn detect() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        // Online CPUs, not this thread's affinity mask: the coordinator is
        // pinned to the client CPUs when it reads this (available_parallelism
        // would say 1 on a 2-core machine).
        let cores = std::fs::read_to_string("/proc/cpuinfo")
            .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Machine {
            cpu_model,
            cores,
            kernel,
        }
    }
}

/// Aggregate CPU time counters from the first line of /proc/stat (jiffies),
/// and busy time by context of the whole machine and of one CPU.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    total: u64,
    steal: u64,
    /// Every CPU: user + nice, system, irq, softirq.
    machine: [u64; 4],
    /// The CPU given to [`CpuTimes::read_core`], the same four.
    core: Option<[u64; 4]>,
}

/// user + nice, system, irq, softirq of a `cpu…` line's numbers.
fn busy_fields(v: &[u64]) -> [u64; 4] {
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    [at(0) + at(1), at(2), at(5), at(6)]
}

fn fields(line: &str) -> Vec<u64> {
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    line.split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect()
}

impl CpuTimes {
    /// Read /proc/stat; zeros if unavailable.
    pub fn read() -> CpuTimes {
        Self::read_core(None)
    }

    /// Read /proc/stat, with CPU `core`'s busy time too.
    pub fn read_core(core: Option<usize>) -> CpuTimes {
        std::fs::read_to_string("/proc/stat")
            .map_or_else(|_| CpuTimes::default(), |s| Self::parse(&s, core))
    }

    fn parse(stat: &str, core: Option<usize>) -> CpuTimes {
        let Some(line) = stat.lines().next() else {
            return CpuTimes::default();
        };
        let v = fields(line);
        let core = core.and_then(|c| {
            let name = format!("cpu{c}");
            stat.lines()
                .find(|l| l.split_whitespace().next() == Some(name.as_str()))
                .map(|l| busy_fields(&fields(l)))
        });
        CpuTimes {
            total: v.iter().sum(),
            steal: v.get(7).copied().unwrap_or(0),
            machine: busy_fields(&v),
            core,
        }
    }

    /// Busy time of every CPU from `self` to `later`, µs by context.
    pub fn machine_busy_until(&self, later: &CpuTimes) -> BusyUs {
        busy_between(&self.machine, &later.machine)
    }

    /// Busy time of the CPU read with [`CpuTimes::read_core`], µs by context.
    pub fn core_busy_until(&self, later: &CpuTimes) -> Option<BusyUs> {
        Some(busy_between(&self.core?, &later.core?))
    }

    /// Steal time between `self` and a later reading, percent of all CPU time.
    pub fn steal_pct_until(&self, later: &CpuTimes) -> f64 {
        let total = later.total.saturating_sub(self.total);
        if total == 0 {
            return 0.0;
        }
        100.0 * later.steal.saturating_sub(self.steal) as f64 / total as f64
    }
}

/// Busy time between two [`CpuTimes`] readings, µs, by context.
///
/// On loopback (and veth) the receiver's TCP processing runs as softirq in
/// the *sender's* context, on the sender's CPU: a process's CPU time then
/// holds part of its peer's receive path, and this kernel has no IRQ time
/// accounting to take it out. The machine's busy time per request — every
/// CPU, every context — is the figure that includes everything exactly
/// once; the server CPU's busy time is what ran where the server is pinned,
/// whoever it was for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BusyUs {
    /// user + nice.
    pub user: f64,
    /// system.
    pub system: f64,
    /// hard interrupts.
    pub irq: f64,
    /// soft interrupts (network receive and transmit processing).
    pub softirq: f64,
}

/// The four busy contexts between two readings, ticks → µs.
fn busy_between(a: &[u64; 4], b: &[u64; 4]) -> BusyUs {
    let tick_us = 1e6 / rustix::param::clock_ticks_per_second() as f64;
    let d = |k: usize| b[k].saturating_sub(a[k]) as f64 * tick_us;
    BusyUs {
        user: d(0),
        system: d(1),
        irq: d(2),
        softirq: d(3),
    }
}

impl BusyUs {
    /// Every busy context.
    pub fn total(&self) -> f64 {
        self.user + self.system + self.irq + self.softirq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_are_the_machine_s_whatever_the_thread_s_affinity() {
        let all = Machine::detect().cores;
        let cpus = crate::sys::allowed_cpus().unwrap();
        crate::sys::pin_to_cpus(&cpus[..1]).unwrap();
        let pinned = Machine::detect().cores;
        crate::sys::pin_to_cpus(&cpus).unwrap();
        assert_eq!(pinned, all);
        assert!(all >= cpus.len());
    }

    #[test]
    fn busy_time_of_the_machine_and_of_one_cpu_by_context() {
        let a = "cpu  11 1 21 200 0 1 5 0 0 0\ncpu0 10 0 20 100 0 1 5 0 0 0\ncpu1 1 1 1 100 0 0 0 0 0 0\nintr 1\n";
        let b = "cpu  23 2 26 340 3 3 16 0 0 0\ncpu0 20 0 25 150 3 1 15 0 0 0\ncpu1 3 2 1 190 0 2 1 0 0 0\n";
        let (a, b) = (CpuTimes::parse(a, Some(0)), CpuTimes::parse(b, Some(0)));
        let tick = 1e6 / rustix::param::clock_ticks_per_second() as f64;
        let cpu0 = a.core_busy_until(&b).unwrap();
        assert_eq!(cpu0.user, 10.0 * tick);
        assert_eq!(cpu0.system, 5.0 * tick);
        assert_eq!(cpu0.softirq, 10.0 * tick);
        assert_eq!(cpu0.irq, 0.0);
        // Idle and iowait are not busy; the aggregate line counts every CPU.
        let all = a.machine_busy_until(&b);
        assert_eq!(all.total(), (13.0 + 5.0 + 2.0 + 11.0) * tick);
        // A CPU that is not there, or no CPU asked for: no core figure.
        assert!(CpuTimes::parse("cpu 1 1 1 1\n", Some(7)).core.is_none());
        assert!(CpuTimes::parse("garbage", None)
            .core_busy_until(&b)
            .is_none());
    }
}
