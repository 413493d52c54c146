//! One row of the reliability table (`loadgen chaos`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::RunResult;

/// A scenario's outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Every check held.
    #[serde(rename = "pass")]
    Pass,
    /// A check failed (or the run could not be made).
    #[default]
    #[serde(rename = "FAIL")]
    Fail,
    /// The documented limit of the mechanism, handled as documented (select
    /// beyond FD_SETSIZE: refused and counted, nothing else broken).
    #[serde(rename = "degrades")]
    Degrades,
}

impl Verdict {
    /// `Pass` if `ok`, else `Fail`.
    pub fn from_pass(ok: bool) -> Verdict {
        if ok {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Degrades => "degrades",
        })
    }
}

/// The scenarios of `loadgen chaos`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Hostile echo clients beside verified ones.
    #[default]
    Chaos,
    /// Hostile chat clients in a verified room.
    ChatChaos,
    /// The server's descriptor limit below the clients offered.
    FdPressure,
    /// 10,000 concurrent active connections.
    C10k,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::Chaos => "chaos",
            Scenario::ChatChaos => "chat-chaos",
            Scenario::FdPressure => "fd-pressure",
            Scenario::C10k => "c10k",
        })
    }
}

/// One row of the reliability table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
// Columns added later read as their defaults, so older reliability.csv files still load.
#[serde(default)]
pub struct ReliabilityRow {
    /// Backend.
    pub backend: String,
    /// Which scenario.
    pub scenario: Scenario,
    /// The outcome.
    pub verdict: Verdict,
    /// The server was alive at the end and answered a fresh connection.
    pub alive: bool,
    /// Server peak RSS, KiB.
    pub peak_rss_kib: Option<u64>,
    /// The bound it had to stay under, KiB.
    pub rss_bound_kib: Option<u64>,
    /// Errors of the well-behaved (verified) clients: must be 0.
    pub errors: Option<u64>,
    /// Corrupt or missing echoes among them: must be 0.
    pub lost_or_corrupt: Option<u64>,
    /// p99 latency of the well-behaved clients without hostile ones, µs.
    pub p99_baseline_us: Option<u64>,
    /// The same with hostile clients, µs.
    pub p99_us: Option<u64>,
    /// p99 ratio (hostile / baseline).
    pub p99_ratio: Option<f64>,
    /// Requests (or echoes) per second of the well-behaved clients.
    pub req_per_s: Option<f64>,
    /// Server: refused connections.
    pub refused: Option<u64>,
    /// Server: connections reset by peers.
    pub resets: Option<u64>,
    /// Server: read pauses at the output cap (back-pressure on slow and never-readers).
    pub read_pauses: Option<u64>,
    /// chaos: half-close exchanges whose echo was not exactly what was sent.
    pub half_close_failures: Option<u64>,
    /// chat-chaos: over-long lines answered with the error and a close.
    pub long_lines_rejected: Option<u64>,
    /// chat-chaos: over-long lines not answered that way.
    pub long_line_failures: Option<u64>,
    /// chat-chaos: hostile lines the verified clients saw (and ignored).
    pub foreign_lines: Option<u64>,
    /// fd-pressure: wait calls during one second out of descriptors.
    pub waits_out_of_fds: Option<u64>,
    /// fd-pressure: server CPU ms during that second.
    pub cpu_ms_out_of_fds: Option<f64>,
    /// fd-pressure: an accepted connection was still served while out of descriptors.
    pub served_while_out_of_fds: Option<bool>,
    /// fd-pressure: clients left waiting in the backlog once descriptors were freed.
    pub waiting_clients: Option<u64>,
    /// fd-pressure: of those, served.
    pub waiting_served: Option<u64>,
    /// What else was measured, in words (for the table's details; tests read the fields).
    pub detail: String,
}

impl ReliabilityRow {
    /// The figures every scenario takes from a run's result.
    pub fn fill_from(&mut self, r: &RunResult) {
        self.peak_rss_kib = r.server_max_rss_kib;
        self.errors = Some(r.errors);
        self.lost_or_corrupt = Some(r.err_corrupt + r.err_missing);
        self.p99_us = Some(r.lat_p99_us);
        self.req_per_s = Some(r.req_per_s);
        self.refused = r.server_refused;
        self.resets = r.server_resets;
        self.read_pauses = r.server_read_pauses;
    }
}
