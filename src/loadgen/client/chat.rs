//! The chat workload: every client reads everything; clients with ids below
//! `senders` also send lines (closed loop: one outstanding line per sender,
//! the next sent when its own line comes back; open loop: `--rate` lines/s
//! spread over the senders, timestamped with the *intended* send time).
//!
//! A line is `SSSSSSSS QQQQQQQQQQQQQQQQ TTTTTTTTTTTTTTTT pattern…\n`: sender id,
//! sequence number and send time (ns since the run's epoch), in hex, then a
//! pattern derived from sender and sequence, padded to `--msg-size` bytes.
//! Each receiver checks every line and, per sender, that sequence numbers
//! arrive complete and in order. A delivery (one line reaching one client)
//! is the unit every per-request figure divides by.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::coordination::WorkerPlan;
use super::driver::{ClientConn, Corrupt, Ctx, Workload};

/// Bytes before the pattern: three hex fields and their separators.
pub const HEADER_LEN: usize = 8 + 1 + 16 + 1 + 16 + 1;
/// The shortest line: header, one pattern byte, newline.
pub const MIN_LINE: usize = HEADER_LEN + 2;

fn pattern(sender: u32, seq: u64, i: usize) -> u8 {
    b'a' + ((sender as u64 * 7 + seq * 13 + i as u64) % 26) as u8
}

/// Append line `seq` of `sender`, sent at `ts_ns`, `len` bytes long.
pub fn encode_line(out: &mut Vec<u8>, sender: u32, seq: u64, ts_ns: u64, len: usize) {
    let start = out.len();
    let _ = write!(out, "{sender:08x} {seq:016x} {ts_ns:016x} ");
    let pad = len - (out.len() - start) - 1;
    out.extend((0..pad).map(|i| pattern(sender, seq, i)));
    out.push(b'\n');
}

/// A line no loadgen client sent: ours start with a lowercase hex digit.
/// (Hostile chaos clients start theirs with 0xFF.)
pub fn is_foreign(line: &[u8]) -> bool {
    !matches!(line.first(), Some(b'0'..=b'9' | b'a'..=b'f'))
}

/// Parse and check a line (without its newline): `(sender, seq, ts_ns)`.
pub fn decode_line(line: &[u8], len: usize) -> Option<(u32, u64, u64)> {
    if line.len() + 1 != len || line.len() < HEADER_LEN {
        return None;
    }
    let field = |r: std::ops::Range<usize>| {
        std::str::from_utf8(&line[r])
            .ok()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
    };
    let sender = u32::try_from(field(0..8)?).ok()?;
    let seq = field(9..25)?;
    let ts = field(26..42)?;
    if line[8] != b' ' || line[25] != b' ' || line[42] != b' ' {
        return None;
    }
    let intact = line[HEADER_LEN..]
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern(sender, seq, i));
    intact.then_some((sender, seq, ts))
}

/// The chat workload.
pub struct Chat;

/// One chat client's state.
pub struct ChatConn {
    /// Unterminated bytes received.
    partial: Vec<u8>,
    /// Per sender: the next sequence number expected.
    next_seq: Vec<u64>,
    /// Per sender: sequence numbers skipped so far (a later arrival of one is a reordering).
    skipped: Vec<u64>,
    /// Sender: next sequence number to send, and lines sent but not yet seen back.
    send_seq: u64,
    outstanding: usize,
}

/// After the window, how long every sender's last line has to be counted in
/// `sent_total` before "every client has every line" can be judged.
const SETTLE: Duration = Duration::from_millis(100);

impl Workload for Chat {
    type Conn = ChatConn;

    fn new_conn(&self, plan: &WorkerPlan, _id: u32) -> ChatConn {
        ChatConn {
            partial: Vec::new(),
            next_seq: vec![0; plan.senders],
            skipped: vec![0; plan.senders],
            send_seq: 0,
            outstanding: 0,
        }
    }

    fn sends(&self, plan: &WorkerPlan, id: u32) -> bool {
        (id as usize) < plan.senders
    }

    fn phase_population(&self, plan: &WorkerPlan) -> usize {
        plan.senders
    }

    fn initial_sends(&self, _plan: &WorkerPlan) -> usize {
        1
    }

    fn outstanding(&self, c: &ChatConn) -> usize {
        c.outstanding
    }

    fn encode(
        &mut self,
        ctx: &mut Ctx<'_>,
        c: &mut ChatConn,
        id: u32,
        out: &mut Vec<u8>,
        intended: Instant,
        _now: Instant,
    ) {
        let ts = intended
            .saturating_duration_since(ctx.shared.epoch)
            .as_nanos() as u64;
        encode_line(out, id, c.send_seq, ts, ctx.plan.msg_size);
        c.send_seq += 1;
        c.outstanding += 1;
        ctx.shared.sent_total[id as usize].fetch_add(1, Ordering::SeqCst);
    }

    fn on_data(
        &mut self,
        ctx: &mut Ctx<'_>,
        c: &mut ChatConn,
        id: u32,
        data: &[u8],
        now: Instant,
    ) -> Result<usize, Corrupt> {
        let mut buf = std::mem::take(&mut c.partial);
        buf.extend_from_slice(data);
        let mut start = 0;
        let mut sends = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let line = &buf[start..end];
            if is_foreign(line) {
                // Another program's line in the room (a hostile client's):
                // not ours to verify.
                ctx.res.foreign_lines += 1;
            } else {
                match deliver(ctx, c, id, line, now) {
                    Some(send) => sends += usize::from(send),
                    None => {
                        ctx.res.errors.corrupt += 1;
                        return Err(Corrupt);
                    }
                }
            }
            start = end + 1;
        }
        buf.drain(..start);
        // A line of ours is never longer than the message size; a foreign one
        // may be up to the server's limit (the same).
        if buf.len() > ctx.plan.msg_size {
            // No newline where one must be: the stream is corrupt.
            ctx.res.errors.corrupt += 1;
            return Err(Corrupt);
        }
        c.partial = buf;
        Ok(sends)
    }

    fn finished(&self, ctx: &Ctx<'_>, conns: &[ClientConn<ChatConn>], now: Instant) -> bool {
        // Every open local client has every line sent so far.
        now >= ctx.timeline.measure_end + SETTLE
            && conns.iter().filter(|c| c.open).all(|c| {
                ctx.shared
                    .sent_total
                    .iter()
                    .enumerate()
                    .all(|(s, t)| c.state.next_seq[s] >= t.load(Ordering::Relaxed))
            })
    }

    fn on_close(&mut self, _c: &mut ChatConn) -> u64 {
        0 // counted at the end, per sender, for the clients still open
    }

    fn at_end(&self, ctx: &mut Ctx<'_>, conns: &[ClientConn<ChatConn>]) {
        // Lines a still-connected client never received.
        for c in conns.iter().filter(|c| c.open) {
            for (s, total) in ctx.shared.sent_total.iter().enumerate() {
                let total = total.load(Ordering::SeqCst);
                ctx.res.errors.missing += total.saturating_sub(c.state.next_seq[s]);
            }
        }
    }
}

/// One complete line reached client `id`: `None` if it is corrupt, else
/// whether the client may send its next line (closed loop, its own line back).
fn deliver(
    ctx: &mut Ctx<'_>,
    c: &mut ChatConn,
    id: u32,
    line: &[u8],
    now: Instant,
) -> Option<bool> {
    let (sender, seq, ts) = decode_line(line, ctx.plan.msg_size)?;
    let s = sender as usize;
    if s >= ctx.plan.senders {
        return None;
    }
    ctx.shared.completed.fetch_add(1, Ordering::Relaxed);
    let expected = c.next_seq[s];
    if seq > expected {
        c.skipped[s] += seq - expected;
        c.next_seq[s] = seq + 1;
    } else if seq < expected {
        if c.skipped[s] > 0 {
            c.skipped[s] -= 1;
            ctx.res.errors.reordered += 1;
        } else {
            ctx.res.errors.duplicated += 1;
        }
        return Some(false);
    } else {
        c.next_seq[s] = seq + 1;
    }
    let own = id == sender;
    if own {
        c.outstanding = c.outstanding.saturating_sub(1);
    }
    let sent_at = ctx.shared.epoch + Duration::from_nanos(ts);
    ctx.record(sent_at, None, now);
    if now.saturating_duration_since(sent_at) > ctx.plan.timeout {
        ctx.res.errors.late += 1;
    }
    Some(own && ctx.closed_loop() && ctx.sending(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_damage_is_caught() {
        let mut out = Vec::new();
        encode_line(&mut out, 7, 42, 123_456, 64);
        assert_eq!(out.len(), 64);
        assert_eq!(*out.last().unwrap(), b'\n');
        let line = &out[..63];
        assert_eq!(decode_line(line, 64), Some((7, 42, 123_456)));
        let mut bad = line.to_vec();
        bad[50] ^= 1;
        assert_eq!(decode_line(&bad, 64), None);
        assert_eq!(decode_line(&line[..62], 64), None, "short line");
        let mut other = Vec::new();
        encode_line(&mut other, 7, 43, 123_456, 64);
        assert_ne!(
            other[HEADER_LEN..],
            out[HEADER_LEN..],
            "pattern depends on seq"
        );
    }
}
