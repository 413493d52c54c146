//! A sweep's arms: a backend, for uring the io_uring features it runs with
//! (`uring+fixed-files`), and the label its rows carry — a backend named
//! twice is an A/A pair (`epoll-et#1`, `epoll-et#2`).

use crate::backend::Backend;
use crate::server::uring_features::UringFeatures;

/// A backend, its io_uring features (uring only), and the label its runs carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm {
    /// The backend.
    pub backend: Backend,
    /// `uring`: features beyond the plain server (`uring+fixed-files`).
    pub features: UringFeatures,
    /// Its label: the backend's name (with `+features`), or `name#k` when
    /// the same is named k times.
    pub label: String,
}

/// One `--backends` item: a backend, and for uring the features after a `+`
/// (`uring+fixed-files+sqpoll=1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArmSpec {
    /// The backend.
    pub backend: Backend,
    /// Its io_uring features (plain for every other backend).
    pub features: UringFeatures,
}

impl ArmSpec {
    /// Every backend, plain.
    pub fn all() -> Vec<ArmSpec> {
        Backend::ALL.into_iter().map(ArmSpec::from).collect()
    }
}

impl From<Backend> for ArmSpec {
    fn from(backend: Backend) -> ArmSpec {
        ArmSpec {
            backend,
            features: UringFeatures::default(),
        }
    }
}

impl std::fmt::Display for ArmSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.features.is_plain() {
            write!(f, "{}", self.backend)
        } else {
            write!(f, "{}+{}", self.backend, self.features)
        }
    }
}

/// `--backends` item: `NAME` or `uring+FEATURE+FEATURE…`.
pub fn parse_arm_spec(s: &str) -> Result<ArmSpec, String> {
    let (name, features) = s.split_once('+').unwrap_or((s, ""));
    let backend: Backend = name.trim().parse().map_err(|e| format!("{e}"))?;
    let features = UringFeatures::parse(features)?;
    if !features.is_plain() && backend != Backend::Uring {
        return Err(format!(
            "{s}: io_uring features are for uring (uring+{features})"
        ));
    }
    Ok(ArmSpec { backend, features })
}

/// The arms of a backend list: one listed more than once becomes `name#1`,
/// `name#2`, … in the order given.
pub fn arms(specs: &[ArmSpec]) -> Vec<Arm> {
    specs
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let total = specs.iter().filter(|&&x| x == b).count();
            let nth = specs[..=i].iter().filter(|&&x| x == b).count();
            Arm {
                backend: b.backend,
                features: b.features,
                label: if total > 1 {
                    format!("{b}#{nth}")
                } else {
                    b.to_string()
                },
            }
        })
        .collect()
}
