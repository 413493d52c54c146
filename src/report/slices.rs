//! The rule for sliced comparisons (`--interleave slices`): a cycle in which
//! any arm's slice saw host steal above its limit (`--steal-limit`, by default
//! [`crate::stats::STEAL_LIMIT_PCT`]) is left out of
//! every figure, for every arm — a ratio pairs the slices of one cycle, so a
//! cycle is kept or left out whole. The rows stay in `runs.csv`; the rule is
//! applied when a report is made, as the interval rule is for runs.

use std::collections::BTreeSet;

use crate::record::RunResult;

/// What identifies a cycle: the scenario and the cycle number.
type CycleKey = (usize, usize, usize, usize, u64, String, Option<usize>);

fn key(r: &RunResult) -> CycleKey {
    (
        r.conns,
        r.idle,
        r.msg_size,
        r.read_buf,
        r.target_rate.map_or(0, f64::to_bits),
        r.workload.to_string(),
        r.repeat,
    )
}

/// `rows` without the disturbed cycles' slices (rows of rounds are kept as
/// they are), and how many cycles were left out.
pub fn kept(rows: &[RunResult]) -> (Vec<RunResult>, usize) {
    let disturbed: BTreeSet<CycleKey> = rows
        .iter()
        .filter(|r| r.interleave == "slices" && r.steal_pct > r.steal_limit())
        .map(key)
        .collect();
    let kept = rows
        .iter()
        .filter(|r| r.interleave != "slices" || !disturbed.contains(&key(r)))
        .cloned()
        .collect();
    (kept, disturbed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_with_steal_in_any_slice_is_left_out_whole() {
        let slice = |backend: &str, repeat: usize, steal: f64| RunResult {
            backend: backend.into(),
            interleave: "slices".into(),
            repeat: Some(repeat),
            steal_pct: steal,
            ..RunResult::default()
        };
        let rows = [
            slice("poll", 1, 0.0),
            slice("epoll-et", 1, 0.0),
            slice("poll", 2, 30.0), // the host took the CPU
            slice("epoll-et", 2, 0.0),
        ];
        let (kept, left_out) = kept(&rows);
        assert_eq!(left_out, 1);
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|r| r.repeat == Some(1)));
        // Rows of rounds are not this rule's.
        let rounds = RunResult {
            interleave: "rounds".into(),
            ..rows[2].clone()
        };
        assert_eq!(kept_len(&[rounds]), 1);
        // Each row carries the limit it was measured under (--steal-limit).
        let lenient: Vec<RunResult> = rows
            .iter()
            .map(|r| RunResult {
                steal_limit_pct: Some(50.0),
                ..r.clone()
            })
            .collect();
        let (kept_all, none_out) = super::kept(&lenient);
        assert_eq!((kept_all.len(), none_out), (4, 0));
    }

    fn kept_len(rows: &[RunResult]) -> usize {
        kept(rows).0.len()
    }
}
