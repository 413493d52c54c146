//! The load generator's message: a header naming the connection and sequence
//! number, then a pattern derived from both, so every echoed byte can be
//! checked as it streams in, without keeping a copy of what was sent.
//!
//! Layout (little-endian): `conn_id: u32`, `seq: u64`, `len: u32`, then
//! `len − 16` pattern bytes.

/// Bytes taken by the header; the smallest allowed `--msg-size`.
pub const HEADER_LEN: usize = 16;

/// The byte at `pos` of message `seq` on connection `conn` of length `len`.
#[inline]
pub fn byte_at(conn: u32, seq: u64, len: u32, pos: usize) -> u8 {
    match pos {
        0..=3 => conn.to_le_bytes()[pos],
        4..=11 => seq.to_le_bytes()[pos - 4],
        12..=15 => len.to_le_bytes()[pos - 12],
        _ => {
            // Cheap, position-dependent and different per (conn, seq): a
            // swapped, shifted or stale byte shows up as a mismatch.
            let mix = (conn as u64).wrapping_mul(0x9E37_79B9) ^ seq.wrapping_mul(0x85EB_CA6B);
            (mix.wrapping_add(pos as u64 * 31) as u8) ^ 0xA5
        }
    }
}

/// Append message `seq` of `len` bytes for connection `conn` to `out`.
pub fn encode(out: &mut Vec<u8>, conn: u32, seq: u64, len: usize) {
    let len32 = len as u32;
    out.extend((0..len).map(|pos| byte_at(conn, seq, len32, pos)));
}

/// Streaming checker for the echoes of one connection: feed it bytes as they
/// arrive; it reports each completed message and the first wrong byte.
#[derive(Debug, Clone)]
pub struct Verifier {
    conn: u32,
    len: u32,
    /// Sequence number of the message being received.
    pub seq: u64,
    /// Bytes of it received so far.
    pub offset: usize,
}

/// What feeding bytes to a [`Verifier`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// All bytes matched; this many messages completed.
    Ok(usize),
    /// A byte differed from what was sent (message `seq`, offset `offset`);
    /// `completed` messages finished before it.
    Corrupt {
        /// Messages completed before the bad byte.
        completed: usize,
    },
}

impl Verifier {
    /// A checker for connection `conn` with messages of `len` bytes.
    pub fn new(conn: u32, len: usize) -> Verifier {
        Verifier {
            conn,
            len: len as u32,
            seq: 0,
            offset: 0,
        }
    }

    /// Check `data`, the next bytes of the echo stream.
    pub fn feed(&mut self, data: &[u8]) -> Verdict {
        let mut completed = 0;
        for &b in data {
            if b != byte_at(self.conn, self.seq, self.len, self.offset) {
                return Verdict::Corrupt { completed };
            }
            self.offset += 1;
            if self.offset == self.len as usize {
                self.offset = 0;
                self.seq += 1;
                completed += 1;
            }
        }
        Verdict::Ok(completed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_accepts_exact_echo_in_any_chunking() {
        let mut sent = Vec::new();
        for seq in 0..5 {
            encode(&mut sent, 9, seq, 40);
        }
        for chunk in [1, 3, 40, 41, 200] {
            let mut v = Verifier::new(9, 40);
            let done: usize = sent
                .chunks(chunk)
                .map(|c| match v.feed(c) {
                    Verdict::Ok(n) => n,
                    other => panic!("{other:?}"),
                })
                .sum();
            assert_eq!(done, 5);
        }
    }

    #[test]
    fn verifier_catches_flip_swap_and_wrong_connection() {
        let mut sent = Vec::new();
        encode(&mut sent, 1, 0, 32);
        encode(&mut sent, 1, 1, 32);
        let mut flipped = sent.clone();
        flipped[40] ^= 1;
        assert_eq!(
            Verifier::new(1, 32).feed(&flipped),
            Verdict::Corrupt { completed: 1 }
        );
        let mut swapped = sent.clone();
        swapped[..32].copy_from_slice(&sent[32..]);
        assert!(matches!(
            Verifier::new(1, 32).feed(&swapped),
            Verdict::Corrupt { .. }
        ));
        assert!(matches!(
            Verifier::new(2, 32).feed(&sent),
            Verdict::Corrupt { .. }
        ));
        // Pattern bytes differ between messages, not only the header.
        assert_ne!(sent[16..32], sent[48..64]);
    }
}
