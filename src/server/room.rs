//! The chat room of the servers that run a thread or task per connection
//! (`threads`, `tokio`): the same rules as the event loop's chat
//! (`chat.rs`), with a lock where the loop needs none.
//!
//! Every member has an outbox of shared lines (one allocation per line,
//! [`Arc<[u8]>`]) that its own writer drains with `writev`. A line is queued
//! to every member under the room's lock, so all members see all lines in one
//! order. A member whose outbox would exceed `--max-pending` is dropped as a
//! slow consumer: marked, woken, and its writer shuts the socket down.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use slab::Slab;

use super::counters::Counters;
use super::rules::IOV_MAX;
use super::rules::{next_line, note_slow_consumer, TooLong, LINE_TOO_LONG};
use super::shards::Tally;

/// How a member's writer is woken: a condition variable for a thread, a
/// `Notify` for a task.
pub trait Wake: Send + Sync {
    /// Something changed in the outbox.
    fn wake(&self);
    /// The member was just dropped as a slow consumer (after [`Wake::wake`]):
    /// a writer blocked on the stalled socket cannot see the flag, so a
    /// thread server shuts the socket down here. Called under the room's
    /// lock, while the member is still in the room (its socket still open).
    fn dropped(&self) {}
}

/// Lines owed to one member, and what its writer must do.
#[derive(Default)]
pub struct Outbox {
    /// Lines not yet taken by the writer.
    pub lines: VecDeque<Arc<[u8]>>,
    /// Bytes pending: queued, plus taken but not yet written.
    pub bytes: usize,
    /// Dropped as a slow consumer: shut the socket down, write no more.
    pub dropped: bool,
    /// Rejected (line too long): after the error line, shut down writing.
    pub reject: bool,
    /// The reader is done: write what is queued, then stop.
    pub finished: bool,
}

/// One member of the room.
pub struct Member<W> {
    /// Its outbox.
    pub out: Mutex<Outbox>,
    /// Its writer's wake-up.
    pub waker: W,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W: Wake> Member<W> {
    /// A member with an empty outbox.
    pub fn new(waker: W) -> Arc<Member<W>> {
        Arc::new(Member {
            out: Mutex::new(Outbox::default()),
            waker,
        })
    }

    /// Its outbox, locked.
    pub fn outbox(&self) -> MutexGuard<'_, Outbox> {
        lock(&self.out)
    }

    /// Change the outbox, then wake the writer.
    pub fn update(&self, f: impl FnOnce(&mut Outbox)) {
        f(&mut self.outbox());
        self.waker.wake();
    }
}

/// Everyone connected.
pub struct Room<W> {
    inner: Mutex<RoomInner<W>>,
    cap: usize,
}

struct RoomInner<W> {
    members: Slab<Arc<Member<W>>>,
    /// Lines, deliveries, allocations, slow consumers, peak queue.
    tally: Tally,
}

impl<W: Wake> Room<W> {
    /// An empty room whose members may have `cap` bytes pending.
    pub fn new(cap: usize, tally: Tally) -> Room<W> {
        Room {
            inner: Mutex::new(RoomInner {
                members: Slab::new(),
                tally,
            }),
            cap,
        }
    }

    /// Add a member; the key is for [`Room::leave`].
    pub fn join(&self, m: &Arc<Member<W>>) -> usize {
        lock(&self.inner).members.insert(Arc::clone(m))
    }

    /// Remove member `key` if it is still `m` (a member dropped as a slow
    /// consumer is gone already, and its key may be someone else's now).
    pub fn leave(&self, key: usize, m: &Arc<Member<W>>) {
        let mut inner = lock(&self.inner);
        if inner.members.get(key).is_some_and(|x| Arc::ptr_eq(x, m)) {
            inner.members.remove(key);
        }
    }

    /// Queue `line` (newline included) for every member, the sender included.
    pub fn broadcast(&self, line: Arc<[u8]>) {
        let mut inner = lock(&self.inner);
        let RoomInner { members, tally } = &mut *inner;
        tally.c.lines_in += 1;
        tally.c.broadcast_allocs += 1;
        let mut slow = Vec::new();
        for (k, m) in members.iter() {
            let mut out = m.outbox();
            if out.bytes + line.len() > self.cap {
                out.dropped = true;
                slow.push(k);
            } else {
                out.bytes += line.len();
                out.lines.push_back(Arc::clone(&line));
                tally.c.deliveries += 1;
                tally.c.peak_pending_bytes = tally.c.peak_pending_bytes.max(out.bytes as u64);
            }
            drop(out);
            m.waker.wake();
        }
        for k in slow {
            note_slow_consumer(&mut tally.c, self.cap);
            members.remove(k).waker.dropped();
        }
        tally.publish();
    }
}

/// What the room made of bytes a member sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// Every complete line went out; an unterminated rest waits in `partial`.
    More,
    /// The sender was dropped as a slow consumer (of its own line too): as in
    /// the event loop, nothing more of it is read.
    Dropped,
    /// A line over the limit: the sender has left the room, its outbox holds
    /// the error line (`reject`); read and discard until it closes.
    Rejected,
}

impl<W: Wake> Room<W> {
    /// Split `data` from member `key` into lines (joined to its `partial`
    /// rest) and broadcast each, the chat rules of the event loop
    /// (`chat.rs`); `counters` is the reader's (lines too long).
    pub fn feed(
        &self,
        key: usize,
        member: &Arc<Member<W>>,
        partial: &mut Vec<u8>,
        data: &[u8],
        max_line: usize,
        counters: &mut Counters,
    ) -> Fed {
        let mut start = 0;
        while let Some(line) = next_line::<Arc<[u8]>>(partial, data, &mut start, max_line) {
            match line {
                Ok(line) => {
                    self.broadcast(line);
                    if member.outbox().dropped {
                        return Fed::Dropped;
                    }
                }
                Err(TooLong) => {
                    counters.lines_too_long += 1;
                    *partial = Vec::new();
                    self.leave(key, member);
                    member.update(|o| {
                        o.bytes += LINE_TOO_LONG.len();
                        o.lines.push_back(Arc::from(LINE_TOO_LONG));
                        o.reject = true;
                    });
                    return Fed::Rejected;
                }
            }
        }
        Fed::More
    }
}

/// Lines taken from an outbox, being written: up to 64 per `writev`.
#[derive(Default)]
pub struct Batch {
    lines: VecDeque<Arc<[u8]>>,
    front_off: usize,
}

impl Batch {
    /// Take everything queued in `out`.
    pub fn take(&mut self, out: &mut Outbox) {
        self.lines.append(&mut out.lines);
    }

    /// Nothing left to write.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Fill `slices` with what is left; returns how many.
    pub fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>; IOV_MAX]) -> usize {
        let mut n = 0;
        for (i, l) in self.lines.iter().take(IOV_MAX).enumerate() {
            let b = if i == 0 { &l[self.front_off..] } else { &l[..] };
            slices[i] = IoSlice::new(b);
            n += 1;
        }
        n
    }

    /// `n` bytes were written.
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let left = self.lines[0].len() - self.front_off;
            if n >= left {
                n -= left;
                self.lines.pop_front();
                self.front_off = 0;
            } else {
                self.front_off += n;
                n = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::shards::Shards;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn lines_reach_everyone_and_slow_consumers_are_dropped() {
        let shards = Arc::new(Shards::default());
        let room = Room::new(10, shards.handle());
        let a = Member::new(Count::default());
        let b = Member::new(Count::default());
        let ka = room.join(&a);
        let kb = room.join(&b);
        room.broadcast(Arc::from(&b"hello\n"[..]));
        assert_eq!(a.outbox().lines.len(), 1);
        assert_eq!(b.waker.0.load(Ordering::Relaxed), 1);
        // a drains its outbox, b does not: the next line drops b.
        let mut batch = Batch::default();
        batch.take(&mut a.outbox());
        a.outbox().bytes = 0;
        room.broadcast(Arc::from(&b"world\n"[..]));
        assert!(b.outbox().dropped && !a.outbox().dropped);
        let t = shards.total();
        assert_eq!((t.lines_in, t.deliveries, t.slow_consumer_drops), (2, 3, 1));
        // b's key is free now: a new member may take it, and b leaving late
        // must not remove the newcomer.
        let c = Member::new(Count::default());
        assert_eq!(room.join(&c), kb);
        room.leave(kb, &b);
        room.broadcast(Arc::from(&b"x\n"[..]));
        assert_eq!(c.outbox().lines.len(), 1);
        room.leave(ka, &a);

        {
            let mut slices = [IoSlice::new(&[]); IOV_MAX];
            assert_eq!(batch.slices(&mut slices), 1);
        }
        batch.advance(2);
        {
            let mut slices = [IoSlice::new(&[]); IOV_MAX];
            let n = batch.slices(&mut slices);
            assert_eq!(&*slices[..n][0], b"llo\n");
        }
        batch.advance(4);
        assert!(batch.is_empty());
    }
}
