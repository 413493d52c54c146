//! The io_uring features the completion server (`--backend uring`) can be
//! told to use, beyond its plain default: what each is, how it is spelled
//! (`--uring-features fixed-files,sqpoll=1`, or `uring+fixed-files+sqpoll=1`
//! as a sweep arm), and whether this kernel has it — checked before the
//! server starts, refused in one line naming what is missing, never
//! silently left out.
//!
//! | feature | what changes | kernel |
//! |---|---|---|
//! | `fixed-files` | multishot accept straight into the ring's fixed file table; every receive, send, shutdown and close names the table slot, so no descriptor is looked up (or opened) per connection | 5.19 |
//! | `multishot-recv` | echo arms one receive per connection that stays armed (chat always does) | 6.0 |
//! | `recv-bundle` | a receive may fill several provided buffers in one completion (`IORING_RECVSEND_BUNDLE`). Echo's bundles are multishot receives with a total limit (`sqe->optlen`): the kernel ends one once the room left under `--max-pending` has arrived, so the bound holds exactly (a one-shot bundle's length is no cap: the kernel fills every free buffer it can). Chat's multishot receives become bundles | 6.18 |
//! | `buf-inc` | the provided buffers are consumed incrementally (`IOU_PBUF_RING_INC`): a receive takes only the bytes it fills, the next one continues in the same buffer, and a buffer goes back once the kernel has moved past it and nothing of it is queued | 6.12 |
//! | `zc-send[=SIZE]` | sends of at least SIZE bytes (default 16 KiB) are zero-copy (`SENDMSG_ZC`): the kernel pins the pages instead of copying, and posts a second completion (the notification) when it lets go of them | 6.1 |
//! | `skip-cqe` | requests whose success says nothing the loop needs (cancels, closes) post no completion (`IOSQE_CQE_SKIP_SUCCESS`) | 5.17 |
//! | `sqpoll[=CPU]` | a kernel thread polls the submission queue (pinned to CPU if given): submitting costs no system call while it is awake; its CPU time is the server's (it is a thread of the server process) | 5.11 |
//! | `taskrun=defer\|coop\|none` | when the kernel runs the ring's deferred work: only inside the loop's own `io_uring_enter` (defer, the plain default), at the next transition to the kernel without an interrupt (coop), or by interrupting the loop (none; the only mode SQPOLL allows) | 6.1 / 5.19 |
//!
//! Send completions are never skipped: echo and chat need each one — a TCP
//! send may be partial, the rest must follow in order, and a buffer may be
//! reused only once the kernel is done with it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::sys::uring::TaskRun;

/// Zero-copy sends from this size on, unless told otherwise.
pub const ZC_SEND_DEFAULT_MIN: usize = 16 * 1024;

/// The features asked for; the default is the plain `uring` server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UringFeatures {
    /// Direct descriptors: accept into, and do I/O on, the fixed file table.
    pub fixed_files: bool,
    /// Echo: a multishot receive per connection.
    pub multishot_recv: bool,
    /// Receives may fill several buffers (bundles).
    pub recv_bundle: bool,
    /// Incrementally consumed provided buffers.
    pub buf_inc: bool,
    /// Zero-copy sends of at least this many bytes.
    pub zc_send: Option<usize>,
    /// No completion for a successful cancel or close.
    pub skip_cqe: bool,
    /// A submission-queue polling thread, pinned to a CPU if `Some(Some(cpu))`.
    pub sqpoll: Option<Option<usize>>,
    /// Task-run mode as given (`None`: defer, or none with sqpoll).
    pub taskrun: Option<TaskRun>,
}

impl UringFeatures {
    /// No feature: the plain server.
    pub fn is_plain(&self) -> bool {
        *self == UringFeatures::default()
    }

    /// The task-run mode in effect.
    pub fn taskrun(&self) -> TaskRun {
        match (self.taskrun, self.sqpoll) {
            (Some(t), _) => t,
            (None, Some(_)) => TaskRun::None,
            (None, None) => TaskRun::Defer,
        }
    }

    /// Parse a list of features separated by `,` or `+` (empty: none).
    pub fn parse(s: &str) -> Result<UringFeatures, String> {
        let mut f = UringFeatures::default();
        for item in s.split([',', '+']).map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (item, None),
            };
            let no_value = |f: &mut bool| match value {
                None => {
                    *f = true;
                    Ok(())
                }
                Some(_) => Err(format!("{name} takes no value")),
            };
            match name {
                "fixed-files" => no_value(&mut f.fixed_files)?,
                "multishot-recv" => no_value(&mut f.multishot_recv)?,
                "skip-cqe" => no_value(&mut f.skip_cqe)?,
                "recv-bundle" => no_value(&mut f.recv_bundle)?,
                "buf-inc" => no_value(&mut f.buf_inc)?,
                "zc-send" => {
                    let min = match value {
                        None => ZC_SEND_DEFAULT_MIN,
                        Some(v) => crate::units::parse_size(v)
                            .map_err(|e| format!("zc-send={v}: {e}"))?
                            .max(1),
                    };
                    f.zc_send = Some(min);
                }
                "sqpoll" => {
                    let cpu = value
                        .map(|v| {
                            v.parse::<usize>()
                                .map_err(|_| format!("sqpoll={v}: give a CPU number"))
                        })
                        .transpose()?;
                    f.sqpoll = Some(cpu);
                }
                "taskrun" => {
                    f.taskrun = Some(match value {
                        Some("defer") => TaskRun::Defer,
                        Some("coop") => TaskRun::Coop,
                        Some("none") => TaskRun::None,
                        _ => return Err("taskrun takes defer, coop or none".into()),
                    });
                }
                other => {
                    return Err(format!(
                        "unknown io_uring feature {other:?} (known: fixed-files, multishot-recv, \
                         recv-bundle, buf-inc, zc-send[=SIZE], skip-cqe, sqpoll[=CPU], taskrun=defer|coop|none)"
                    ))
                }
            }
        }
        if f.sqpoll.is_some() && matches!(f.taskrun, Some(TaskRun::Defer | TaskRun::Coop)) {
            return Err(
                "sqpoll runs task work in its own thread: the kernel refuses taskrun=defer or \
                 coop with it (leave taskrun out, or give taskrun=none)"
                    .into(),
            );
        }
        if f.recv_bundle && f.multishot_recv {
            return Err(
                "recv-bundle receives multishot already (each receive ends once the room \
                 under --max-pending has arrived): leave out multishot-recv"
                    .into(),
            );
        }
        Ok(f)
    }

    /// Refuse features this kernel does not have, naming the version each needs.
    pub fn check_kernel(&self) -> Result<(), String> {
        let have = kernel_version().ok_or("cannot read the kernel version (uname)")?;
        let mut needs: Vec<(&str, (u32, u32))> = Vec::new();
        if self.fixed_files {
            needs.push((
                "fixed-files (multishot accept into the fixed file table)",
                (5, 19),
            ));
        }
        if self.multishot_recv {
            needs.push(("multishot-recv", (6, 0)));
        }
        if self.recv_bundle {
            // Bundles came in 6.10; the total limit that bounds echo's in 6.18.
            needs.push((
                "recv-bundle (IORING_RECVSEND_BUNDLE with a multishot total limit)",
                (6, 18),
            ));
        }
        if self.buf_inc {
            needs.push(("buf-inc (IOU_PBUF_RING_INC)", (6, 12)));
        }
        if self.zc_send.is_some() {
            needs.push(("zc-send (IORING_OP_SENDMSG_ZC)", (6, 1)));
        }
        if self.skip_cqe {
            needs.push(("skip-cqe (IOSQE_CQE_SKIP_SUCCESS)", (5, 17)));
        }
        match self.taskrun() {
            TaskRun::Defer if self.taskrun.is_some() => {
                needs.push(("taskrun=defer (IORING_SETUP_DEFER_TASKRUN)", (6, 1)));
            }
            TaskRun::Coop => needs.push(("taskrun=coop (IORING_SETUP_COOP_TASKRUN)", (5, 19))),
            _ => {}
        }
        if self.sqpoll.is_some() {
            needs.push(("sqpoll (without privileges)", (5, 11)));
        }
        if let Some(Some(cpu)) = self.sqpoll {
            let allowed = crate::sys::allowed_cpus().map_err(|e| e.to_string())?;
            if !allowed.contains(&cpu) {
                return Err(format!(
                    "sqpoll={cpu}: CPU {cpu} is not one this process may run on ({allowed:?})"
                ));
            }
        }
        for (what, (major, minor)) in needs {
            if have < (major, minor) {
                return Err(format!(
                    "{what} needs Linux {major}.{minor} or later; this kernel is {}.{}",
                    have.0, have.1
                ));
            }
        }
        Ok(())
    }
}

/// `(major, minor)` of the running kernel.
fn kernel_version() -> Option<(u32, u32)> {
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

impl fmt::Display for UringFeatures {
    /// The canonical spelling: features joined by `+` in a fixed order
    /// (empty for the plain server).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = Vec::new();
        if self.fixed_files {
            items.push("fixed-files".into());
        }
        if self.multishot_recv {
            items.push("multishot-recv".into());
        }
        if self.recv_bundle {
            items.push("recv-bundle".into());
        }
        if self.buf_inc {
            items.push("buf-inc".into());
        }
        match self.zc_send {
            Some(ZC_SEND_DEFAULT_MIN) => items.push("zc-send".into()),
            Some(n) => items.push(format!("zc-send={n}")),
            None => {}
        }
        if self.skip_cqe {
            items.push("skip-cqe".into());
        }
        match self.sqpoll {
            Some(Some(cpu)) => items.push(format!("sqpoll={cpu}")),
            Some(None) => items.push("sqpoll".into()),
            None => {}
        }
        if let Some(t) = self.taskrun {
            items.push(format!("taskrun={}", t.name()));
        }
        f.write_str(&items.join("+"))
    }
}

impl Serialize for UringFeatures {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for UringFeatures {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        UringFeatures::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Where the features of a uring server come from when `--uring-features`
/// is not given (the test suites run once more with a feature set this way;
/// every row and snapshot records what was used).
pub const ENV: &str = "MUXBENCH_URING_FEATURES";

/// The features [`ENV`] names (none if it is unset or empty).
pub fn from_env() -> Result<UringFeatures, String> {
    match std::env::var(ENV) {
        Ok(v) => UringFeatures::parse(&v).map_err(|e| format!("{ENV}={v}: {e}")),
        Err(_) => Ok(UringFeatures::default()),
    }
}

/// `--uring-features`: for clap.
pub fn parse_uring_features(s: &str) -> Result<UringFeatures, String> {
    UringFeatures::parse(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_reads_back_as_its_canonical_spelling() {
        let f =
            UringFeatures::parse("sqpoll=1,buf-inc,fixed-files+zc-send=4096+recv-bundle").unwrap();
        assert!(f.fixed_files && f.zc_send == Some(4096) && f.sqpoll == Some(Some(1)));
        assert!(f.recv_bundle && f.buf_inc && !f.multishot_recv);
        assert_eq!(f.taskrun(), TaskRun::None);
        assert_eq!(
            f.to_string(),
            "fixed-files+recv-bundle+buf-inc+zc-send=4096+sqpoll=1"
        );
        assert_eq!(UringFeatures::parse(&f.to_string()), Ok(f));
        assert!(UringFeatures::parse("").unwrap().is_plain());
        assert_eq!(UringFeatures::default().taskrun(), TaskRun::Defer);
        assert_eq!(
            UringFeatures::parse("zc-send").unwrap().zc_send,
            Some(ZC_SEND_DEFAULT_MIN)
        );
    }

    #[test]
    fn contradictions_and_unknowns_are_refused_by_name() {
        for (bad, says) in [
            ("sqpoll,taskrun=defer", "refuses taskrun=defer"),
            ("taskrun=fast", "defer, coop or none"),
            ("fixed-files=1", "takes no value"),
            ("sqpoll=x", "CPU number"),
            ("bundles", "unknown io_uring feature"),
            ("recv-bundle,multishot-recv", "multishot already"),
        ] {
            let e = UringFeatures::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
