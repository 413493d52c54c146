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

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::worker::{
    connect_phase, new_histogram, us_between, wait_timeout, Schedule, SendBuf, Shared, Slot,
    Timeline, WorkerPlan, WorkerResult, OPEN_LOOP_MAX_IN_FLIGHT,
};
use crate::mux::{Epoll, Events, Interest, Multiplexer, Token, Trigger};

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

struct Client {
    stream: TcpStream,
    id: u32,
    open: bool,
    out: SendBuf,
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

/// Run one chat worker to the end of the run.
pub fn run(plan: &WorkerPlan, shared: &Shared) -> WorkerResult {
    let mut res = WorkerResult::default();
    let Some((connected, timeline)) = connect_phase(plan, shared, &mut res) else {
        return res;
    };
    let senders = plan.senders;
    let clients: Vec<Client> = connected
        .active
        .into_iter()
        .map(|(id, stream)| Client {
            stream,
            id,
            open: true,
            out: SendBuf::default(),
            partial: Vec::new(),
            next_seq: vec![0; senders],
            skipped: vec![0; senders],
            send_seq: 0,
            outstanding: 0,
        })
        .collect();
    let mux = match Epoll::new(Trigger::Level) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("loadgen: chat worker: epoll_create: {e}");
            shared.abort.store(true, Ordering::SeqCst);
            return res;
        }
    };
    let mut room = Room {
        plan,
        shared,
        timeline,
        mux,
        clients,
        res,
        buf: vec![0u8; 64 * 1024],
    };
    room.run();
    drop(connected.idle);
    room.res
}

struct Room<'a> {
    plan: &'a WorkerPlan,
    shared: &'a Shared,
    timeline: Timeline,
    mux: Epoll,
    clients: Vec<Client>,
    res: WorkerResult,
    buf: Vec<u8>,
}

impl Room<'_> {
    fn is_sender(&self, i: usize) -> bool {
        (self.clients[i].id as usize) < self.plan.senders
    }

    fn run(&mut self) {
        let now = Instant::now();
        let mut schedule = self.plan.rate_per_conn.map(Schedule::new);
        for i in 0..self.clients.len() {
            let fd = self.clients[i].stream.as_raw_fd();
            if let Err(e) = self.mux.register(fd, Token(i), Interest::READABLE) {
                eprintln!("loadgen: chat worker: register: {e}");
                self.close(i, false);
                continue;
            }
            if !self.is_sender(i) {
                continue;
            }
            match &mut schedule {
                None => self.send(i, now),
                Some(s) => s.add(i, now, self.clients[i].id, self.plan.senders),
            }
        }
        let mut events = Events::with_capacity(1024);
        let mut due = Vec::new();
        // After the window: give every sender's last line time to be counted
        // in `sent_total`, then leave once every local receiver has them all.
        let settle = self.timeline.measure_end + Duration::from_millis(100);
        loop {
            if self.shared.abort.load(Ordering::Relaxed)
                || self.shared.open_conns.load(Ordering::Relaxed) == 0
            {
                break;
            }
            let now = Instant::now();
            let sending = now < self.timeline.measure_end;
            if !sending && (now >= self.timeline.drain_end || (now >= settle && self.complete())) {
                break;
            }
            let mut next_due = None;
            if let (Some(s), true) = (&mut schedule, sending) {
                let clients = &self.clients;
                next_due = s.take_due(
                    now,
                    |i| match &clients[i] {
                        c if !c.open => Slot::Gone,
                        c if c.outstanding >= OPEN_LOOP_MAX_IN_FLIGHT => Slot::Busy,
                        _ => Slot::Free,
                    },
                    &mut due,
                );
                for &(i, intended) in &due {
                    self.send(i, intended);
                }
            }
            let timeout = wait_timeout(now, sending, self.timeline, next_due);
            if let Err(e) = self.mux.wait_precise(&mut events, Some(timeout)) {
                eprintln!("loadgen: chat worker: epoll_pwait2: {e}");
                self.shared.abort.store(true, Ordering::SeqCst);
                break;
            }
            for ev in events.iter() {
                let i = ev.token.0;
                if !self.clients[i].open {
                    continue;
                }
                if ev.writable {
                    self.flush(i);
                }
                if ev.readable || ev.read_closed || ev.error {
                    self.read(i);
                }
            }
        }
        // Lines a still-connected client never received.
        for c in self.clients.iter().filter(|c| c.open) {
            for (s, total) in self.shared.sent_total.iter().enumerate() {
                let total = total.load(Ordering::SeqCst);
                self.res.errors.missing += total.saturating_sub(c.next_seq[s]);
            }
        }
        self.res.intervals.truncate(
            (self.timeline.measure_end - self.timeline.measure_start)
                .as_secs_f64()
                .ceil() as usize,
        );
    }

    /// Every open local client has every line sent so far.
    fn complete(&self) -> bool {
        self.clients.iter().filter(|c| c.open).all(|c| {
            self.shared
                .sent_total
                .iter()
                .enumerate()
                .all(|(s, t)| c.next_seq[s] >= t.load(Ordering::Relaxed))
        })
    }

    /// Sender `i` sends its next line, stamped with `intended`.
    fn send(&mut self, i: usize, intended: Instant) {
        let ts = intended
            .saturating_duration_since(self.shared.epoch)
            .as_nanos() as u64;
        let c = &mut self.clients[i];
        if !c.open {
            return;
        }
        let was_empty = c.out.pending() == 0;
        encode_line(c.out.queue(), c.id, c.send_seq, ts, self.plan.msg_size);
        c.send_seq += 1;
        c.outstanding += 1;
        self.shared.sent_total[c.id as usize].fetch_add(1, Ordering::SeqCst);
        if intended >= self.timeline.measure_start && intended < self.timeline.measure_end {
            self.res.sent += 1;
        }
        if was_empty {
            self.flush(i);
        }
    }

    fn flush(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if c.out.flush(&mut c.stream, &mut self.mux, Token(i)).is_err() {
            self.close(i, true);
        }
    }

    fn read(&mut self, i: usize) {
        loop {
            let c = &mut self.clients[i];
            match c.stream.read(&mut self.buf) {
                Ok(0) => {
                    self.close(i, true);
                    return;
                }
                Ok(n) => {
                    let mut data = std::mem::take(&mut self.clients[i].partial);
                    data.extend_from_slice(&self.buf[..n]);
                    let mut start = 0;
                    let now = Instant::now();
                    while let Some(pos) = data[start..].iter().position(|&b| b == b'\n') {
                        let end = start + pos;
                        let line = &data[start..end];
                        if is_foreign(line) {
                            // Another program's line in the room (a hostile
                            // client's): not ours to verify.
                            self.res.foreign_lines += 1;
                        } else if !self.deliver(i, line, now) {
                            self.res.errors.corrupt += 1;
                            self.close(i, false);
                            return;
                        }
                        start = end + 1;
                    }
                    data.drain(..start);
                    // A line of ours is never longer than the message size; a
                    // foreign one may be up to the server's limit (the same).
                    if data.len() > self.plan.msg_size {
                        // No newline where one must be: the stream is corrupt.
                        self.res.errors.corrupt += 1;
                        self.close(i, false);
                        return;
                    }
                    self.clients[i].partial = data;
                    if !self.clients[i].open || n < self.buf.len() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(i, true);
                    return;
                }
            }
        }
    }

    /// One complete line reached client `i`. `false`: corrupt.
    fn deliver(&mut self, i: usize, line: &[u8], now: Instant) -> bool {
        let Some((sender, seq, ts)) = decode_line(line, self.plan.msg_size) else {
            return false;
        };
        let s = sender as usize;
        if s >= self.plan.senders {
            return false;
        }
        self.shared.completed.fetch_add(1, Ordering::Relaxed);
        let c = &mut self.clients[i];
        let expected = c.next_seq[s];
        if seq > expected {
            c.skipped[s] += seq - expected;
            c.next_seq[s] = seq + 1;
        } else if seq < expected {
            if c.skipped[s] > 0 {
                c.skipped[s] -= 1;
                self.res.errors.reordered += 1;
            } else {
                self.res.errors.duplicated += 1;
            }
            return true;
        } else {
            c.next_seq[s] = seq + 1;
        }
        // A sender seeing its own line back may send the next (closed loop).
        let own = c.id == sender;
        if own {
            c.outstanding = c.outstanding.saturating_sub(1);
        }
        let sent_at = self.shared.epoch + Duration::from_nanos(ts);
        let t = self.timeline;
        if sent_at >= t.measure_start && sent_at < t.measure_end {
            let lat = us_between(sent_at, now);
            self.res.requests += 1;
            self.res.latency.saturating_record(lat);
            let sec = sent_at.duration_since(t.measure_start).as_secs() as usize;
            if self.res.intervals.len() <= sec {
                self.res.intervals.resize_with(sec + 1, new_histogram);
            }
            self.res.intervals[sec].saturating_record(lat);
        }
        if now.saturating_duration_since(sent_at) > self.plan.timeout {
            self.res.errors.late += 1;
        }
        if own && self.plan.rate_per_conn.is_none() && now < t.measure_end {
            self.send(i, now);
        }
        true
    }

    fn close(&mut self, i: usize, by_server: bool) {
        let c = &mut self.clients[i];
        if !c.open {
            return;
        }
        c.open = false;
        let _ = self.mux.deregister(c.stream.as_raw_fd());
        self.shared.open_conns.fetch_sub(1, Ordering::SeqCst);
        if by_server {
            self.res.errors.closed_by_server += 1;
        }
    }
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
