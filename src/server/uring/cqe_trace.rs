//! `--trace` for the completion loop: what each `io_uring_enter` returned, in
//! words. Kept apart because it only describes; nothing here decides.

use super::ops::{key_of, op_of, OP_ACCEPT, OP_CONTROL, OP_RECV, OP_SEND};
use super::ring_loop::UringServer;
use crate::sys::uring::Completion;

impl UringServer {
    /// `--trace=waits`: `enter #N -> K cqes [recv fd 7: 4 B, send fd 7: 4 B]`;
    /// `--trace=all`: `enter #N -> K cqes`, then one `cqe ...` line each.
    #[cold]
    #[inline(never)]
    pub(super) fn trace_enter(&mut self, batch: &[Completion]) {
        let items: Vec<String> = batch.iter().map(|c| self.describe_cqe(c)).collect();
        let n = batch.len();
        let plural = if n == 1 { "" } else { "s" };
        let enter = self.ring.enters;
        if self.trace.all() {
            self.trace
                .line(format_args!("enter #{enter} -> {n} cqe{plural}"));
            for item in items {
                self.trace.line(format_args!("cqe {item}"));
            }
        } else {
            let list = items.join(", ");
            self.trace
                .line(format_args!("enter #{enter} -> {n} cqe{plural} [{list}]"));
        }
    }

    /// `recv fd 7: 4 B`, `send fd 7: EAGAIN`, `accept fd 9`, `control`, `cancel`.
    fn describe_cqe(&self, c: &Completion) -> String {
        let key = key_of(c.user_data);
        let fd = || {
            self.conns
                .get(key)
                .map_or(format!("connection {key}"), |conn| conn.number())
        };
        let outcome = |eof: bool| match c.result {
            0 if eof => "EOF".to_string(),
            n if n >= 0 => format!("{n} B"),
            e => errno_name(-e),
        };
        match op_of(c.user_data) {
            OP_ACCEPT if c.result >= 0 && self.slots.is_some() => {
                format!("accept slot {}", c.result)
            }
            OP_ACCEPT if c.result >= 0 => format!("accept fd {}", c.result),
            OP_ACCEPT => format!("accept {}", errno_name(-c.result)),
            OP_CONTROL => "control".to_string(),
            OP_RECV => format!("recv {}: {}", fd(), outcome(true)),
            OP_SEND => format!("send {}: {}", fd(), outcome(false)),
            _ => "cancel".to_string(),
        }
    }
}

/// The name of an errno a completion may carry, for trace lines.
fn errno_name(errno: i32) -> String {
    match errno {
        libc::EAGAIN => "EAGAIN".to_string(),
        libc::ENOBUFS => "ENOBUFS".to_string(),
        libc::ECANCELED => "ECANCELED".to_string(),
        libc::ECONNRESET => "ECONNRESET".to_string(),
        libc::EPIPE => "EPIPE".to_string(),
        libc::EMFILE => "EMFILE".to_string(),
        libc::EINTR => "EINTR".to_string(),
        e => format!("errno {e}"),
    }
}
