//! The counters page: the server publishes its counters into a small shared
//! memory file once per loop turn, and the load generator reads them once per
//! interval from another process — no signal, no wake-up, no write to a pipe,
//! nothing the server has to answer.
//!
//! Layout (64-bit words): `MAGIC`, the layout word (counter words << 32 |
//! multiplexer words), a sequence number, then [`Counters`] and [`MuxStats`]
//! as their `repr(C)` words. A sequence lock keeps a reading consistent: the
//! writer makes the sequence odd, stores the words, makes it even again; the
//! reader retries until it saw the same even sequence before and after. The
//! writer never waits for the reader.
//!
//! Cost: one publish is ~36 relaxed stores to a cache line the loop owns,
//! made at the end of each loop turn (after the turn's work, so the page is
//! current whenever the loop blocks). `benches/roundtrip.rs` measures a
//! publish; compared with a SIGUSR1 snapshot per interval it costs no
//! wake-up and no system call.

use std::io;
use std::path::Path;
use std::sync::atomic::{fence, Ordering};

use super::counters::Counters;
use crate::mux::MuxStats;
use crate::sys::SharedWords;

const MAGIC: u64 = u64::from_le_bytes(*b"MUXSTAT1");
const COUNTER_WORDS: usize = std::mem::size_of::<Counters>() / 8;
const MUX_WORDS: usize = std::mem::size_of::<MuxStats>() / 8;
const HEADER: usize = 3;
const SEQ: usize = 2;
/// Words in the page.
const WORDS: usize = HEADER + COUNTER_WORDS + MUX_WORDS;
const LAYOUT: u64 = ((COUNTER_WORDS as u64) << 32) | MUX_WORDS as u64;

/// The server's side: owns the mapping and publishes into it.
pub struct StatsPage {
    map: SharedWords,
}

impl StatsPage {
    /// Create the file at `path` — a new regular file: anything already
    /// there (a symlink, another user's file, an old page) is refused, since
    /// the page may live in a shared directory and the server may run as
    /// root — and map it.
    pub fn create(path: &Path) -> io::Result<StatsPage> {
        Self::create_at(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("the counters page {}: {e}", path.display()),
            )
        })
    }

    fn create_at(path: &Path) -> io::Result<StatsPage> {
        let file = crate::sys::create_exclusive(path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                io::Error::new(
                    e.kind(),
                    "something is already there (the page must be a new file: remove it or \
                     give another path)",
                )
            } else {
                e
            }
        })?;
        file.set_len((WORDS * 8) as u64)?;
        let map = SharedWords::map(&file, WORDS, true)?;
        let w = map.words();
        w[1].store(LAYOUT, Ordering::Relaxed);
        w[0].store(MAGIC, Ordering::Release);
        Ok(StatsPage { map })
    }

    /// Publish the current counters.
    #[inline]
    pub fn publish(&self, counters: &Counters, mux: &MuxStats) {
        let w = self.map.words();
        let seq = w[SEQ].load(Ordering::Relaxed);
        w[SEQ].store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        let data = &w[HEADER..];
        let c: &[u64] = bytemuck::cast_slice(std::slice::from_ref(counters));
        let m: &[u64] = bytemuck::cast_slice(std::slice::from_ref(mux));
        for (slot, v) in data.iter().zip(c.iter().chain(m)) {
            slot.store(*v, Ordering::Relaxed);
        }
        w[SEQ].store(seq.wrapping_add(2), Ordering::Release);
    }
}

/// The reader's side (the load generator).
pub struct StatsReader {
    map: SharedWords,
}

impl StatsReader {
    /// Map the page at `path`, written by a server of this same build.
    pub fn open(path: &Path) -> io::Result<StatsReader> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            ));
        }
        let map = SharedWords::map(&file, WORDS, false)?;
        let w = map.words();
        if w[0].load(Ordering::Acquire) != MAGIC || w[1].load(Ordering::Relaxed) != LAYOUT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not a counters page of this muxbench build",
                    path.display()
                ),
            ));
        }
        Ok(StatsReader { map })
    }

    /// A consistent reading of the counters, or `None` if the writer kept
    /// changing them through many attempts (it publishes in well under a µs).
    pub fn read(&self) -> Option<(Counters, MuxStats)> {
        let w = self.map.words();
        for attempt in 0..10_000u32 {
            if attempt % 64 == 63 {
                // The writer may have been preempted mid-publication on this
                // very CPU: let it finish instead of spinning on.
                std::thread::yield_now();
            }
            let before = w[SEQ].load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut counters = Counters::default();
            let mut mux = MuxStats::default();
            {
                let c: &mut [u64] = bytemuck::cast_slice_mut(std::slice::from_mut(&mut counters));
                let m: &mut [u64] = bytemuck::cast_slice_mut(std::slice::from_mut(&mut mux));
                for (v, slot) in c.iter_mut().chain(m.iter_mut()).zip(&w[HEADER..]) {
                    *v = slot.load(Ordering::Relaxed);
                }
            }
            fence(Ordering::Acquire);
            if w[SEQ].load(Ordering::Relaxed) == before {
                return Some((counters, mux));
            }
        }
        None
    }

    /// Times the server has published (every loop turn; 0: never yet).
    pub fn publications(&self) -> u64 {
        self.map.words()[SEQ].load(Ordering::Acquire) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_sees_what_was_published_and_refuses_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("page");
        let page = StatsPage::create(&path).unwrap();
        let reader = StatsReader::open(&path).unwrap();
        assert_eq!(reader.publications(), 0);
        let counters = Counters {
            accepts: 3,
            reads: 11,
            trace_lines_dropped: 7,
            ..Counters::default()
        };
        let mux = MuxStats {
            wait_calls: 5,
            sqes: 9,
            ..MuxStats::default()
        };
        page.publish(&counters, &mux);
        assert_eq!(reader.publications(), 1);
        let (c, m) = reader.read().unwrap();
        assert_eq!(c, counters);
        assert_eq!(m, mux);

        // A concurrent writer never yields a torn reading: every field of a
        // reading is from the same publication.
        page.publish(&Counters::default(), &MuxStats::default());
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..200_000u64 {
                    let c = Counters {
                        accepts: i,
                        reads: i,
                        trace_lines_dropped: i,
                        ..Counters::default()
                    };
                    page.publish(
                        &c,
                        &MuxStats {
                            wait_calls: i,
                            ..MuxStats::default()
                        },
                    );
                    // A server publishes once per loop turn, not back to back.
                    for _ in 0..64 {
                        std::hint::spin_loop();
                    }
                }
            });
            let mut consistent = 0;
            for _ in 0..20_000 {
                // A reader racing a busy writer may give up (None); never tear.
                let Some((c, m)) = reader.read() else {
                    continue;
                };
                consistent += 1;
                assert!(
                    c.accepts == c.reads && c.reads == c.trace_lines_dropped,
                    "{c:?} {m:?}"
                );
                assert_eq!(m.wait_calls, c.accepts);
            }
            assert!(consistent > 10_000, "{consistent} readings succeeded");
        });

        let other = dir.path().join("other");
        std::fs::write(&other, vec![0u8; WORDS * 8]).unwrap();
        let err = StatsReader::open(&other).err().unwrap();
        assert!(err.to_string().contains("not a counters page"), "{err}");
        std::fs::write(&other, b"short").unwrap();
        assert!(StatsReader::open(&other).is_err());
    }
}
