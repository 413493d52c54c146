//! Parsing of the units command-line values are written in: durations
//! (`5s`, `500ms`), byte sizes (`64k`, `1MiB`) and CPU lists (`1-3,5`).
//!
//! Hand-written rather than taken from a crate (`humantime`, `bytesize`, …):
//! the accepted forms are the project's own (a bare number is seconds, `k` is
//! 1024, a duration is bounded by [`limits::MAX_DURATION`]) and the error
//! messages name the flag's examples; a crate would need the same wrapping.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{limits, sys};

/// Parse a duration: plain seconds (`5`, `0.5`) or with a unit (`5s`, `500ms`, `2m`, `100us`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (examples: 5, 0.5, 5s, 500ms)"))?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" | "µs" => v / 1e6,
        "m" | "min" => v * 60.0,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {s:?} (use s, ms, us or m)"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} is not a valid duration"));
    }
    if secs > limits::MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "{s:?} is longer than the bound of one day ({} s): a run that long is more likely \
             a slip of the unit; split long measurements into a sweep with --repeat",
            limits::MAX_DURATION.as_secs()
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parse a byte size: `16384`, `64k`, `64KiB`, `1m`, `1MiB` (powers of 1024).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (examples: 4096, 64k, 256KiB, 1m)"))?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return Err(format!("unknown size unit {unit:?} in {s:?} (use k or m)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// A list of CPU numbers, e.g. `1-3,5`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuList(pub Vec<usize>);

/// Parse a CPU list (`1`, `1-3,5`) for `--client-cpus`.
pub fn parse_cpus(s: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    let in_set = |c: usize| {
        if c < sys::CPU_SETSIZE {
            Ok(c)
        } else {
            Err(format!(
                "CPU {c} is beyond the {} CPUs an affinity mask can name",
                sys::CPU_SETSIZE
            ))
        }
    };
    for part in s.split(',').filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (usize, usize) = (
                a.parse().map_err(|_| format!("bad CPU range {part:?}"))?,
                b.parse().map_err(|_| format!("bad CPU range {part:?}"))?,
            );
            if a > b {
                return Err(format!("bad CPU range {part:?}"));
            }
            // Checked before expanding: `0-99999999999` must not allocate.
            cpus.extend(in_set(a)?..=in_set(b)?);
        } else {
            cpus.push(in_set(
                part.parse().map_err(|_| format!("bad CPU {part:?}"))?,
            )?);
        }
    }
    if cpus.is_empty() {
        return Err("empty CPU list".into());
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(CpuList(cpus))
}

/// `5%` or `0.05`: a fraction in (0, 1).
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let v = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => s.parse::<f64>(),
    }
    .map_err(|_| format!("{s:?} is not a fraction (write 5% or 0.05)"))?;
    if !(v > 0.0 && v < 1.0) {
        return Err(format!("{s} is not between 0 and 100 %"));
    }
    Ok(v)
}

/// A percentage from 0 to 100 (`7`, `7%`): `--steal-limit`.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a percentage"))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(format!("{s} is not between 0 and 100 %"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_plain_and_suffixed() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes_accept_units_and_refuse_garbage() {
        assert_eq!(parse_size("4"), Ok(4));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("256KiB"), Ok(262144));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert!(parse_size("12q").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("k").is_err());
    }
}
