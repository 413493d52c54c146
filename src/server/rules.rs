//! The serving rules every model shares, so each is written once: when to
//! pause accepting, what an I/O error means for a connection, how many
//! buffers one `writev` takes, and the chat protocol's line framing and its
//! limits. Every serving model imports this file; it imports only the
//! counters.

use std::io;
use std::time::Duration;

use super::counters::Counters;

/// How long accepting pauses after EMFILE/ENFILE unless a connection closes first.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// How an I/O step ended for a connection.
pub enum Step {
    /// Go on.
    Continue,
    /// Close it (`reset`: the peer reset it).
    Close {
        /// The peer reset the connection.
        reset: bool,
    },
}

/// The [`Step`] an I/O error leaves a connection at: closed, reset or not.
pub fn classify(e: &io::Error) -> Step {
    let reset = matches!(
        e.raw_os_error(),
        Some(libc::ECONNRESET) | Some(libc::EPIPE) | Some(libc::ETIMEDOUT)
    );
    Step::Close { reset }
}

/// Buffers handed to one `writev` (the kernel allows 1,024; 64 lines or
/// chunks already amortise the call).
pub const IOV_MAX: usize = 64;

/// Sent to a client whose line exceeds `--max-line`, before it is closed.
pub const LINE_TOO_LONG: &[u8] = b"ERR line too long\n";
/// Bytes a rejected client may still send after its error line before it
/// is closed regardless.
pub const LINGER_DISCARD_MAX: usize = 1 << 20;

/// A line over `--max-line` arrived (complete or not).
pub struct TooLong;

/// The next complete line of `data[*start..]`, joined to `partial` (the
/// unterminated rest of earlier reads), newline included; `*start` moves past
/// it. With no newline left the rest goes to `partial` and `None` comes back.
/// Shared by both loops: the readiness loop reads into its buffer, the
/// io_uring loop receives into a provided one.
pub fn next_line<L>(
    partial: &mut Vec<u8>,
    data: &[u8],
    start: &mut usize,
    max_line: usize,
) -> Option<Result<L, TooLong>>
where
    L: for<'a> From<&'a [u8]> + From<Vec<u8>> + std::ops::Deref<Target = [u8]>,
{
    let rest = &data[*start..];
    let Some(pos) = rest.iter().position(|&b| b == b'\n') else {
        *start = data.len();
        partial.extend_from_slice(rest);
        return (partial.len() > max_line).then_some(Err(TooLong));
    };
    *start += pos + 1;
    let line = if partial.is_empty() {
        L::from(&rest[..=pos])
    } else {
        partial.extend_from_slice(&rest[..=pos]);
        L::from(std::mem::take(partial))
    };
    Some(if line.len() - 1 > max_line {
        Err(TooLong)
    } else {
        Ok(line)
    })
}

/// Count a recipient dropped as a slow consumer; the first one is also said.
pub fn note_slow_consumer(counters: &mut Counters, cap: usize) {
    if counters.slow_consumer_drops == 0 {
        eprintln!(
            "muxserver: warning: disconnecting a client whose output queue would exceed \
             {cap} bytes (slow consumer; further ones are only counted)"
        );
    }
    counters.slow_consumer_drops += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Just;
    use std::rc::Rc;

    fn lines(partial: &mut Vec<u8>, data: &[u8], max: usize) -> Vec<Result<String, ()>> {
        let mut start = 0;
        let mut out = Vec::new();
        while let Some(r) = next_line::<Rc<[u8]>>(partial, data, &mut start, max) {
            let stop = r.is_err();
            out.push(
                r.map(|l| String::from_utf8_lossy(&l).into_owned())
                    .map_err(drop),
            );
            if stop {
                break;
            }
        }
        out
    }

    #[test]
    fn lines_are_split_joined_across_reads_and_bounded() {
        let mut partial = Vec::new();
        assert_eq!(lines(&mut partial, b"ab\ncd", 10), vec![Ok("ab\n".into())]);
        assert_eq!(partial, b"cd");
        assert_eq!(
            lines(&mut partial, b"e\nf\n", 10),
            vec![Ok("cde\n".into()), Ok("f\n".into())]
        );
        assert!(partial.is_empty(), "taken whole, no allocation left");
        // Complete but too long, and unterminated past the limit.
        assert_eq!(lines(&mut partial, b"0123456789x\n", 10), vec![Err(())]);
        assert_eq!(lines(&mut Vec::new(), b"0123456789x", 10), vec![Err(())]);
        assert_eq!(
            lines(&mut Vec::new(), b"0123456789\n", 10),
            vec![Ok("0123456789\n".into())]
        );
    }

    proptest::proptest! {
        /// Any split of a byte stream frames the same lines: what a client
        /// sends in one write or in many reads of any size, the server sees
        /// as the same lines, the unterminated rest kept, and a line over
        /// the limit refused wherever the reads cut it.
        #[test]
        fn any_split_of_a_stream_frames_the_same_lines(
            stream in proptest::collection::vec(
                proptest::prop_oneof![Just(b'\n'), b'a'..=b'e'], 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..12),
            max in 1usize..40,
        ) {
            let mut whole_rest = Vec::new();
            let whole = lines(&mut whole_rest, &stream, max);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut rest = Vec::new();
            let mut from = 0;
            for at in cuts.into_iter().chain([stream.len()]) {
                let got = lines(&mut rest, &stream[from..at], max);
                let refused = got.iter().any(Result::is_err);
                pieces.extend(got);
                from = at;
                if refused {
                    break;
                }
            }
            proptest::prop_assert_eq!(&pieces, &whole);
            if !whole.iter().any(Result::is_err) {
                proptest::prop_assert_eq!(rest, whole_rest);
            }
        }
    }
}
