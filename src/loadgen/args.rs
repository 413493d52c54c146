//! Command-line settings of one load-generator run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::limits;
use crate::server::{Protocol, ReadPolicy};
pub use crate::units::parse_fraction;
use crate::units::{parse_cpus, parse_duration, parse_size, CpuList};

use super::client::schedule::{Arrivals, Pacing};
use super::message::HEADER_LEN;

pub(crate) fn parse_msg_size(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    if n < HEADER_LEN {
        return Err(format!(
            "{n} bytes is too small: a message carries a {HEADER_LEN}-byte header \
             (connection id, sequence number, length)"
        ));
    }
    limits::check_buf(
        n,
        "a message is held whole in memory on both sides, once per message in flight",
    )?;
    Ok(n)
}

/// How many times each cell runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// This many rounds.
    Fixed(usize),
    /// Until the confidence intervals are narrow enough.
    Auto,
}

impl Default for Repeat {
    fn default() -> Self {
        Repeat::Fixed(1)
    }
}

/// Rounds `--repeat auto` runs before it first checks the intervals.
pub const AUTO_MIN_REPEAT: usize = 3;

/// `N` or `auto`.
pub fn parse_repeat(s: &str) -> Result<Repeat, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Repeat::Auto);
    }
    s.parse()
        .map(Repeat::Fixed)
        .map_err(|_| format!("{s:?} is neither a number of runs nor `auto`"))
}

/// `--start-at`: RFC 3339 or Unix seconds, within a day of now.
pub fn parse_start_at(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let secs = match t.parse::<f64>() {
        Ok(x) if x.is_finite() => x,
        Ok(_) => return Err(format!("{s:?} is not a time")),
        Err(_) => humantime::parse_rfc3339_weak(t)
            .map_err(|e| {
                format!("{s:?} is neither RFC 3339 (2026-11-30T12:00:00Z) nor Unix seconds: {e}")
            })?
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| format!("{s:?} is before 1970"))?
            .as_secs_f64(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    if (secs - now).abs() > 86_400.0 {
        return Err(format!(
            "{s:?} is more than a day from now ({:+.0} s): a typo, or this host's clock is off",
            secs - now
        ));
    }
    Ok(secs)
}

/// The settings a single run and a sweep share, declared once (`loadgen`
/// flattens them into both). What a sweep varies (connections, idle
/// connections, message and read sizes) and what it defaults differently
/// (warm-up and duration: shorter runs, many of them) stays with each.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct LoadSettings {
    /// echo (RFC 862) or chat (every sender's lines to every client; --senders of --conns send).
    #[arg(long, value_enum, default_value_t = Protocol::Echo)]
    pub workload: Protocol,

    /// Chat: how many of the --conns clients send lines (default: 10, or all if fewer).
    #[arg(long)]
    pub senders: Option<usize>,

    /// Connections opened per second.
    #[arg(long, default_value_t = 5000.0)]
    pub connect_rate: f64,

    /// Give up on a connect after this long.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    #[serde(with = "secs")]
    pub connect_timeout: Duration,

    /// Worker threads (default: one per client CPU; at most 4 per client CPU).
    #[arg(long)]
    pub threads: Option<usize>,

    /// Closed loop: messages each connection keeps in flight (--conns × --pipeline × --msg-size
    /// at most 1 GiB or an eighth of the available memory).
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,

    /// A reply later than this counts as late; a server silent this long ends the run.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    #[serde(with = "secs")]
    pub timeout: Duration,

    /// CPU to pin the server to.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: usize,

    /// CPUs for the load generator's workers, e.g. `1` or `1-3,5` (default: all but the server's).
    #[arg(long, value_parser = parse_cpus)]
    pub client_cpus: Option<CpuList>,

    /// Server: read policy of level-triggered backends (once | drain).
    #[arg(long, value_enum, default_value_t = ReadPolicy::Once)]
    pub read_policy: ReadPolicy,

    /// Server: output cap per connection (at most 1 GiB or half the available memory).
    #[arg(long, default_value = "256KiB", value_parser = crate::server::parse_max_pending)]
    pub max_pending: usize,

    /// Server (threads): stack size of each connection thread (default 64 KiB).
    #[arg(long, value_name = "SIZE", value_parser = crate::server::parse_stack_size)]
    #[serde(default)]
    pub stack_size: Option<usize>,

    /// Server (tokio): the multi-thread runtime with N workers (default: current-thread).
    #[arg(long, value_name = "N", value_parser = crate::server::parse_runtime_threads)]
    #[serde(default)]
    pub server_threads: Option<usize>,

    /// Server (readiness backends, echo): N event loops, each with its own multiplexer; all on
    /// --server-cpu (the 2-core default leaves one CPU to the client).
    #[arg(long, value_name = "N", value_parser = crate::server::parse_reactors)]
    #[serde(default)]
    pub reactors: Option<usize>,

    /// Server, with --reactors: reuseport | exclusive | shared (see `muxserver --help`).
    #[arg(long, value_enum, requires = "reactors")]
    #[serde(default)]
    pub accept: Option<crate::server::reactors::AcceptMode>,

    /// Open loop: how a worker waits for a due send. sleep: a timed wait to the instant;
    /// spin: never block while sending (a whole client CPU); hybrid: sleep until 100 µs before,
    /// then poll the sockets without blocking. Every worker runs with 1 ns timer slack; the
    /// spin's CPU counts in the client's CPU.
    #[arg(long, value_enum, default_value_t = Pacing::Hybrid)]
    #[serde(default)]
    pub pacing: Pacing,

    /// Sample the server's counters, the CPU times, steal and a calibration probe once per
    /// this interval of the measured window (10 ms to 1 h; default 1 s, or longer so that a
    /// window has at most 3,600 intervals); each run's figures are medians over its intervals,
    /// disturbed ones left out (docs/method.md: "How loadgen measures").
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "opt_secs")]
    pub interval: Option<Duration>,

    /// Host CPU steal (percent of all CPU time) above which an interval — or, with
    /// `--slice`, a whole cycle of slices — is left out of the figures (0 to 100; default 5).
    /// Raise it on a VM whose host always steals, and compare by ratios; the limit is recorded
    /// in each row's `steal_limit_pct` and the report applies it.
    #[arg(long, value_name = "PCT", default_value_t = crate::stats::STEAL_LIMIT_PCT,
          value_parser = crate::units::parse_percent)]
    #[serde(default = "crate::stats::steal_limit_default")]
    pub steal_limit: f64,

    /// Server, uring: io_uring features beyond the plain server, comma-separated
    /// (`muxserver --help`: fixed-files, multishot-recv, zc-send[=SIZE], skip-cqe,
    /// sqpoll[=CPU], taskrun=defer|coop|none); recorded in the row's `uring_features`. In a
    /// sweep, `--backends uring+fixed-files,...` gives one arm per feature set instead.
    /// Default: $MUXBENCH_URING_FEATURES, if set.
    #[arg(long, value_name = "LIST", default_value = "", hide_default_value = true,
          value_parser = crate::server::uring_features::parse_uring_features)]
    #[serde(default)]
    pub uring_features: crate::server::uring_features::UringFeatures,
}

/// Most intervals in one window: each holds a latency histogram per worker.
pub const MAX_INTERVALS: f64 = 3600.0;

impl LoadSettings {
    /// `--interval`, or 1 s, lengthened so that `duration` has at most [`MAX_INTERVALS`].
    pub fn interval_for(&self, duration: Duration) -> Duration {
        self.interval.unwrap_or_else(|| {
            Duration::from_secs(1).max(Duration::from_secs_f64(
                (duration.as_secs_f64() / MAX_INTERVALS).ceil(),
            ))
        })
    }
}

/// Settings of one run.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct RunArgs {
    /// Backend of the server loadgen starts.
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        required_unless_present = "addr",
        conflicts_with = "addr"
    )]
    #[serde(with = "backend_serde")]
    pub backend: Option<Backend>,

    /// Drive an external RFC 862 echo server at HOST:PORT instead of starting one (a host name
    /// is resolved once; of several addresses, the first that accepts a connection is used).
    #[arg(long, value_parser = crate::addr::parse_connect_addr)]
    pub addr: Option<SocketAddr>,

    /// Name for the external server in reports (with --addr).
    #[arg(long, requires = "addr", value_parser = parse_name)]
    pub label: Option<String>,

    /// With --addr: the server's control address (`muxserver --control ADDR`). Its counters at
    /// the window's edges give the run the server's CPU, syscalls and events per request, as a
    /// run with loadgen's own server has them. Checked before the run starts.
    #[arg(long, value_name = "HOST:PORT", requires = "addr", value_parser = crate::addr::parse_connect_addr)]
    #[serde(default)]
    pub server_control: Option<SocketAddr>,

    /// Begin the measured window at this instant, so that several load hosts measure the same
    /// window: RFC 3339 (`2026-11-30T12:00:00Z`) or Unix seconds. Connecting happens first,
    /// then loadgen waits until the warm-up must begin; an instant already too close (after
    /// connecting, less than --warmup away) is an error. The hosts' clocks must agree (NTP).
    #[arg(long, value_name = "TIME", value_parser = parse_start_at)]
    #[serde(default)]
    pub start_at: Option<f64>,

    /// Name of this load host in the outputs (`host_label` column); `loadgen merge` lists
    /// the hosts by it.
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    #[serde(default)]
    pub host_label: Option<String>,

    /// Settings a sweep shares with a single run.
    #[command(flatten)]
    #[serde(flatten)]
    pub load: LoadSettings,

    /// Active connections (echo: they send and verify echoes; chat: they all read everything).
    #[arg(long, default_value_t = 100)]
    pub conns: usize,

    /// Idle connections: connected and registered on the server, never sending
    /// (the workload that exposes select/poll's O(n) cost).
    #[arg(long, default_value_t = 0)]
    pub idle: usize,

    /// Open loop: messages per second in total (0.001 to 100 million), spread over the
    /// connections (see --arrivals); latency is measured from each message's intended send
    /// time (coordinated-omission corrected).
    #[arg(long)]
    pub rate: Option<f64>,

    /// Open loop: how sends are spaced. poisson: each connection draws exponential gaps (the
    /// client as a whole is Poisson at --rate: independent arrivals, which show queueing in
    /// the tail); uniform: even gaps, connections phase-shifted.
    #[arg(long, value_enum, default_value_t = Arrivals::Poisson, requires = "rate")]
    pub arrivals: Arrivals,

    /// Seed of the random draws (Poisson gaps, self-check samples): the same seed repeats a
    /// run's arrivals.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Warm-up before measuring (excluded from every figure).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    #[serde(with = "secs")]
    pub warmup: Duration,

    /// Measured duration.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    #[serde(with = "secs")]
    pub duration: Duration,

    /// Message size in bytes (at least the 16-byte header, at most 64 MiB).
    #[arg(long, default_value = "64", value_parser = parse_msg_size)]
    pub msg_size: usize,

    /// Exit 0 even when errors were counted.
    #[arg(long)]
    pub allow_errors: bool,

    /// Server: bytes per read(2) (1 to 64 MiB).
    #[arg(long, default_value = "16384", value_parser = crate::server::parse_read_buf)]
    pub read_buf: usize,

    /// Append one row to this CSV file (created with a header if missing).
    #[arg(long, default_value = "results/runs.csv")]
    pub csv: PathBuf,

    /// Do not write the CSV row.
    #[arg(long)]
    pub no_csv: bool,

    /// Write the full result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Write the latency percentile distribution (HdrHistogram .hgrm text format, ms).
    #[arg(long)]
    pub hgrm: Option<PathBuf>,

    /// Write an HdrHistogram V2 interval log, one histogram per --interval (µs).
    #[arg(long)]
    pub hlog: Option<PathBuf>,

    /// Write one CSV row per --interval: requests, latency, client and server CPU, steal,
    /// the probe, per-request server costs, and whether the interval rule left it out.
    #[arg(long, value_name = "FILE")]
    pub intervals: Option<PathBuf>,

    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,

    /// Run this many times (each run a row, its own server), or `auto`: until the 95 % CI of
    /// server CPU µs per request and req/s is within --target-ci (at least 3, at most
    /// --max-repeat runs); then print each figure with its interval. With more than one run,
    /// --json/--hgrm/--hlog/--intervals files get `-rK` before their extension.
    #[arg(long, default_value = "1", value_parser = parse_repeat)]
    #[serde(skip)]
    pub repeat: Repeat,

    /// `--repeat auto`: the CI half-width to reach, relative (`5%` or `0.05`).
    #[arg(long, default_value = "5%", value_parser = parse_fraction)]
    pub target_ci: f64,

    /// `--repeat auto`: most runs.
    #[arg(long, default_value_t = 10)]
    pub max_repeat: usize,

    /// Open loop: exit 1 when the generator's self-check finds the measurement invalid
    /// (arrivals not as intended, correlated samples, p99 not converged to --target-ci).
    #[arg(long, requires = "rate")]
    pub strict: bool,

    /// Count the server's system calls over the measured window from the kernel
    /// (perf_event_open on the raw_syscalls:sys_enter tracepoint, every server thread):
    /// `server_syscalls_kernel_per_req`, beside the server's own count where it has one (tokio
    /// has none). Own server only; needs tracefs and root, CAP_PERFMON or perf_event_paranoid <= 1.
    #[arg(long, conflicts_with = "addr")]
    #[serde(default)]
    pub count_syscalls: bool,

    /// Hostile clients to run beside the well-behaved ones during the measured
    /// window (set by `loadgen chaos`).
    #[arg(skip)]
    #[serde(skip)]
    pub chaos: Option<super::chaos::ChaosSpec>,

    /// The server's descriptor limit (set by `loadgen chaos`'s descriptor-pressure scenario).
    #[arg(skip)]
    #[serde(skip)]
    pub server_nofile: Option<u64>,
}

impl RunArgs {
    /// The row's `uring_features`: the features of a uring server this run
    /// starts (empty for the plain server and every other backend).
    pub fn uring_features_column(&self) -> String {
        match self.backend {
            Some(Backend::Uring) => self.uring_features().to_string(),
            _ => String::new(),
        }
    }

    /// The features a uring server of this run gets: `--uring-features`, or
    /// else those $MUXBENCH_URING_FEATURES names (checked by `loadgen::check`).
    pub fn uring_features(&self) -> crate::server::uring_features::UringFeatures {
        if self.load.uring_features.is_plain() {
            crate::server::uring_features::from_env().unwrap_or_default()
        } else {
            self.load.uring_features
        }
    }

    /// The settings `loadgen --backend B` would use: the command line's
    /// defaults, for sweeps and the reliability runs to adjust.
    pub fn with_defaults(backend: Backend) -> RunArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            run: RunArgs,
        }
        <Cli as clap::Parser>::parse_from(["loadgen", "--backend", backend.name()]).run
    }

    /// Chat senders: `--senders`, or 10 (all clients if fewer).
    pub fn senders_or_default(&self) -> usize {
        self.load.senders.unwrap_or(self.conns.min(10))
    }

    /// The name of what is measured: the backend, or the external server's label.
    pub fn target_name(&self) -> String {
        match (self.backend, &self.label, self.addr) {
            (Some(b), _, _) => b.name().to_string(),
            (None, Some(l), _) => l.clone(),
            (None, None, Some(a)) => format!("external:{a}"),
            (None, None, None) => "unknown".into(),
        }
    }
}

/// A name a row records (`--label`, `--host-label`): not empty, which a CSV
/// cell could not tell from no name at all.
fn parse_name(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("give a name (an empty one would read back as none)".into());
    }
    Ok(s.to_string())
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(f64::deserialize(d)?))
    }
}

mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.map(Duration::from_secs_f64))
    }
}

mod backend_serde {
    use crate::backend::Backend;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(b: &Option<Backend>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_str(b.name()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Backend>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| s.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_size_below_header_is_refused() {
        assert!(parse_msg_size("15").unwrap_err().contains("header"));
        assert_eq!(parse_msg_size("16"), Ok(16));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpus("1"), Ok(CpuList(vec![1])));
        assert_eq!(parse_cpus("1-3,5"), Ok(CpuList(vec![1, 2, 3, 5])));
        assert!(parse_cpus("3-1").is_err());
        assert!(parse_cpus("x").is_err());
    }
}
