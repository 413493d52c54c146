//! Seeded draws for the statistics' own tests (compiled for tests only):
//! uniform, normal and log-normal values from `rand`'s `SmallRng`, and the
//! A/A experiments several tests share, so each test file need not carry a
//! generator of its own.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::f64::consts::PI;

/// A generator seeded with `seed`: the same draws every run.
pub(super) fn rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}

/// Uniform in [0, 1), 53 bits.
pub(super) fn uniform(rng: &mut SmallRng) -> f64 {
    rng.gen::<f64>()
}

/// Standard normal by Box–Muller: √(−2 ln u1)·cos(2π u2).
pub(super) fn normal(rng: &mut SmallRng) -> f64 {
    let u1 = 1.0 - uniform(rng);
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * uniform(rng)).cos()
}

/// Log-normal with median 1 and log standard deviation `sigma`.
pub(super) fn lognormal(rng: &mut SmallRng, sigma: f64) -> f64 {
    (sigma * normal(rng)).exp()
}

/// 2000 A/A experiments of 3 pairs, every value log-normal with σ = 0.2.
pub(super) fn aa_experiments() -> Vec<[(f64, f64); 3]> {
    let mut rng = rng(20_240_601);
    (0..2000)
        .map(|_| [(); 3].map(|()| (lognormal(&mut rng, 0.2), lognormal(&mut rng, 0.2))))
        .collect()
}
