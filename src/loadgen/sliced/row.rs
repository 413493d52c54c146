//! A slice's row: the client's tally, the server's snapshots at the
//! slice's edges and the machine's busy time, in the run's columns.

use super::state::*;
use crate::loadgen::result;
use crate::record::LoadModel;
use crate::record::RunResult;

impl Sliced {
    /// A slice's row: the settings, the client's count and latency.
    pub(super) fn row(
        &self,
        a: usize,
        t: &Tally,
        h: &hdrhistogram::Histogram<u64>,
        measured_s: f64,
    ) -> RunResult {
        let arm = &self.arms[a];
        let args = &arm.args;
        let req_per_s = t.requests as f64 / measured_s.max(1e-9);
        let mut r = RunResult {
            timestamp: crate::loadgen::now_rfc3339(),
            workload: args.load.workload,
            backend: args.target_name(),
            arm: if arm.label == args.target_name() {
                String::new()
            } else {
                arm.label.clone()
            },
            interleave: "slices".into(),
            conns: args.conns,
            idle: args.idle,
            msg_size: args.msg_size,
            load_model: if args.rate.is_some() {
                LoadModel::Open
            } else {
                LoadModel::Closed
            },
            target_rate: args.rate,
            arrivals: args.rate.map(|_| args.arrivals.to_string()),
            pacing: args.rate.map(|_| args.load.pacing.to_string()),
            unsent: args.rate.map(|_| t.unsent),
            rate_not_met: args.rate.map(|r| req_per_s < 0.95 * r),
            send_lag_p50_us: (!t.send_lag.is_empty()).then(|| t.send_lag.value_at_quantile(0.5)),
            send_lag_p99_us: (!t.send_lag.is_empty()).then(|| t.send_lag.value_at_quantile(0.99)),
            pipeline: args.load.pipeline,
            read_buf: args.read_buf,
            read_policy: args.load.read_policy,
            steal_limit_pct: Some(args.load.steal_limit),
            max_pending: args.load.max_pending,
            uring_features: args.uring_features_column(),
            warmup_s: self.warmup.as_secs_f64(),
            duration_s: measured_s,
            timeout_s: args.load.timeout.as_secs_f64(),
            connect_rate: args.load.connect_rate,
            connect_timeout_s: args.load.connect_timeout.as_secs_f64(),
            measured_s,
            threads: 1,
            server_cpu: self.server_cpu,
            client_cpus: self.client_cpus.clone(),
            connected: arm.conns.iter().filter(|c| c.open).count(),
            connected_idle: args.idle,
            requests: t.requests,
            req_per_s,
            mb_per_s: req_per_s * args.msg_size as f64 / 1e6,
            errors: t.corrupt + t.missing + t.closed,
            err_corrupt: t.corrupt,
            err_missing: t.missing,
            err_closed_by_server: t.closed,
            cpu_model: self.machine.cpu_model.clone(),
            cores: self.machine.cores,
            kernel: self.machine.kernel.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            ..RunResult::default()
        };
        result::apply_latency(&mut r, h);
        r
    }
}
