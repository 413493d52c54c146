//! How a ring is set up (the task-run mode, a submission-queue polling
//! thread) and why it cannot be, when io_uring is unavailable: the
//! reasons, each with its remedy.

use std::io;

/// When the kernel runs a ring's task work (`IORING_SETUP_*_TASKRUN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskRun {
    /// `DEFER_TASKRUN` (+ single issuer): only inside our own enter.
    Defer,
    /// `COOP_TASKRUN`: no interrupt; at the next kernel entry.
    Coop,
    /// Neither: the kernel interrupts the loop to run it.
    None,
}

impl TaskRun {
    /// The spelling in a feature list (`taskrun=`).
    pub const fn name(self) -> &'static str {
        match self {
            TaskRun::Defer => "defer",
            TaskRun::Coop => "coop",
            TaskRun::None => "none",
        }
    }
}

/// How a ring is set up beyond its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// The task-run mode.
    pub taskrun: TaskRun,
    /// A submission-queue polling thread (`IORING_SETUP_SQPOLL`), pinned to
    /// a CPU if given.
    pub sqpoll: Option<Option<usize>>,
    /// Whether an older kernel may quietly get the plain setup instead (only
    /// the default ring: an asked-for feature is never left out).
    pub fallback: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            taskrun: TaskRun::Defer,
            sqpoll: None,
            fallback: true,
        }
    }
}

/// How long the SQ thread spins without work before it sleeps (and the next
/// submission must wake it with a system call).
pub(super) const SQPOLL_IDLE_MS: u32 = 50;

/// Why io_uring cannot be used here, in one line with what to do.
pub(super) fn unavailable(e: io::Error) -> io::Error {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let why = unavailable_reason(&e, disabled);
    io::Error::new(e.kind(), format!("io_uring unavailable: {why}"))
}

/// The cause of a failed `io_uring_setup` and the remedy, from its errno and
/// the `kernel.io_uring_disabled` sysctl (absent on kernels before 6.6).
fn unavailable_reason(e: &io::Error, disabled: Option<u32>) -> String {
    match (e.raw_os_error(), disabled) {
        (Some(libc::ENOSYS), _) => {
            "the kernel has no io_uring (ENOSYS): it needs Linux 5.19 or later built with CONFIG_IO_URING"
                .to_string()
        }
        (Some(libc::EPERM), Some(d)) if d > 0 => format!(
            "io_uring is disabled by sysctl kernel.io_uring_disabled={d}; \
             run `sysctl kernel.io_uring_disabled=0` as root (or add this user to kernel.io_uring_group)"
        ),
        (Some(libc::EPERM), _) => {
            "io_uring_setup was refused (EPERM): a seccomp filter (e.g. a container runtime's) \
             blocks it; allow io_uring_setup/io_uring_enter/io_uring_register or run outside the container"
                .to_string()
        }
        _ => format!("io_uring_setup failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailability_names_the_cause_and_the_remedy() {
        let enosys = io::Error::from_raw_os_error(libc::ENOSYS);
        assert!(unavailable_reason(&enosys, None).contains("5.19"));
        let eperm = io::Error::from_raw_os_error(libc::EPERM);
        let sysctl = unavailable_reason(&eperm, Some(2));
        assert!(sysctl.contains("kernel.io_uring_disabled=2"), "{sysctl}");
        assert!(
            sysctl.contains("sysctl kernel.io_uring_disabled=0"),
            "{sysctl}"
        );
        let seccomp = unavailable_reason(&eperm, Some(0));
        assert!(seccomp.contains("seccomp"), "{seccomp}");
        let msg = unavailable(eperm).to_string();
        assert!(msg.starts_with("io_uring unavailable: "), "{msg}");
    }

    /// On this project's machines io_uring works: this fails (never skips) if not.
    #[test]
    fn io_uring_is_available_here() {
        super::super::available().expect("io_uring must work on the test machines");
    }
}
