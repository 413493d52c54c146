//! The ring's bookkeeping on its own, then against the kernel: what a
//! bundle and an incrementally consumed buffer really hand back.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::*;
use crate::sys::uring::{Completion, RecvMode, Target};

#[test]
fn buffers_go_back_once_the_kernel_moved_past_and_no_piece_is_held() {
    let ring = Ring::new(8).unwrap();
    let mut bufs = BufRing::register(&ring, 7, 4, 64, false).unwrap();
    assert_eq!(bufs.count(), 4);
    assert_eq!((bufs.group(), bufs.buf_size(), bufs.free()), (7, 64, 4));
    let mut pieces = Vec::new();
    // A bundle of 100 bytes from the head (buffer 0): 64 + 36.
    bufs.consume(0, 100, false, &mut pieces).unwrap();
    let want = [
        Piece {
            bid: 0,
            off: 0,
            len: 64,
        },
        Piece {
            bid: 1,
            off: 0,
            len: 36,
        },
    ];
    assert_eq!(pieces, want);
    assert_eq!(bufs.free(), 2);
    // Released out of order: buffer 1 goes back first, behind 2 and 3.
    bufs.release(1);
    bufs.release(0);
    assert_eq!(bufs.free(), 4);
    assert_eq!(bufs.queued, [2, 3, 1, 0]);
    // The head is 2 now; a completion naming another buffer is refused.
    assert!(bufs.consume(3, 10, false, &mut pieces).is_err());
    // A completion of no data names no consumed buffer.
    assert!(bufs.consume(2, 0, false, &mut pieces).is_err());
    assert_eq!(bufs.queued, [2, 3, 1, 0]);
    // More bytes than the ring holds cannot come from one completion.
    pieces.clear();
    assert!(bufs.consume(2, 5 * 64, false, &mut pieces).is_err());
}

#[test]
fn an_incremental_buffer_stays_at_the_head_while_the_kernel_says_so() {
    let ring = Ring::new(8).unwrap();
    let mut bufs = BufRing::register(&ring, 8, 2, 64, true).unwrap();
    let mut pieces = Vec::new();
    bufs.consume(0, 10, true, &mut pieces).unwrap();
    bufs.consume(0, 20, true, &mut pieces).unwrap();
    assert_eq!(bufs.free(), 2, "buffer 0 is still the head");
    // Released before the kernel is done with it: it stays where it is.
    bufs.release(0);
    assert_eq!(bufs.queued, [0, 1]);
    // The rest of buffer 0 and half of buffer 1; the kernel moved past 0.
    bufs.consume(0, 34 + 32, true, &mut pieces).unwrap();
    let offs: Vec<(u16, usize, usize)> = pieces.iter().map(|p| (p.bid, p.off, p.len)).collect();
    assert_eq!(offs, [(0, 0, 10), (0, 10, 20), (0, 30, 34), (1, 0, 32)]);
    assert_eq!(bufs.queued, [1]);
    bufs.release(0);
    assert_eq!(bufs.queued, [1], "one piece of buffer 0 is still held");
    bufs.release(0);
    assert_eq!(bufs.queued, [1, 0], "back once its last piece is released");
    assert_eq!(bufs.returned(), 1);
    // A full buffer the kernel says it keeps: the ring is out of step.
    assert!(bufs.consume(1, 32, true, &mut pieces).is_err());
}

/// Either drop order is sound: the ring holds the memory until it closes.
#[test]
fn buffers_outlive_whichever_is_dropped_first() {
    let ring = Ring::new(8).unwrap();
    let bufs = BufRing::register(&ring, 3, 2, 32, false).unwrap();
    let mem = Arc::downgrade(&bufs.mem);
    drop(bufs);
    assert!(mem.upgrade().is_some(), "the ring keeps the buffers alive");
    drop(ring);
    assert!(mem.upgrade().is_none(), "freed once both are gone");

    let ring = Ring::new(8).unwrap();
    let mut bufs = BufRing::register(&ring, 3, 2, 32, false).unwrap();
    drop(ring);
    let mut pieces = Vec::new();
    bufs.consume(0, 32, false, &mut pieces).unwrap();
    assert_eq!(
        bufs.data(pieces[0]).len(),
        32,
        "still readable after the ring"
    );
    drop(bufs);
}

#[test]
fn the_same_group_twice_is_refused() {
    let ring = Ring::new(8).unwrap();
    let first = BufRing::register(&ring, 5, 2, 32, false).unwrap();
    // The same group twice: the kernel refuses it.
    assert!(BufRing::register(&ring, 5, 2, 32, false).is_err());
    drop(first);
}

/// A connected pair on loopback with `data` already in the server side's
/// receive queue.
fn pair_with(data: &[u8]) -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    client.write_all(data).unwrap();
    // Wait until all of it is queued at the server.
    let mut peek = vec![0u8; data.len()];
    for _ in 0..1000 {
        if server.peek(&mut peek).unwrap() >= data.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    (client, server)
}

fn recv_once(
    ring: &mut Ring,
    bufs: &BufRing,
    fd: &TcpStream,
    len: u32,
    bundle: bool,
) -> Completion {
    let mode = RecvMode {
        multishot: false,
        bundle,
        limit: 0,
    };
    ring.recv_provided(Target::Fd(fd.as_raw_fd()), bufs.group(), len, mode, 1)
        .unwrap();
    wait_one(ring)
}

fn wait_one(ring: &mut Ring) -> Completion {
    let mut out = Vec::new();
    for _ in 0..100 {
        ring.submit_and_wait(1, Some(Duration::from_millis(50)))
            .unwrap();
        ring.reap(&mut out, 1);
        if !out.is_empty() {
            return out[0];
        }
    }
    panic!("no completion");
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A bundle fills consecutive ring entries — in the order they were added,
/// not by buffer id. A one-shot bundle's length does not cap it (it took
/// every free buffer here); a multishot bundle's total limit does, exactly,
/// and then the receive ends — what keeps `--max-pending` exact under
/// `recv-bundle`.
#[test]
fn a_bundle_fills_ring_order_and_a_limit_caps_it() {
    if crate::sys::uring::available().is_err() {
        return;
    }
    let data = pattern(12 * 1024);
    let (_client, server) = pair_with(&data);
    let mut ring = Ring::new(8).unwrap();
    let mut bufs = BufRing::register(&ring, 9, 8, 1024, false).unwrap();
    let mut got = Vec::new();
    let mut take = |bufs: &mut BufRing, c: &Completion| {
        let mut pieces = Vec::new();
        bufs.consume(
            c.buffer_id().unwrap(),
            c.result as usize,
            c.buf_more(),
            &mut pieces,
        )
        .unwrap();
        for p in &pieces {
            got.extend_from_slice(bufs.data(*p));
        }
        pieces.iter().map(|p| p.bid).collect::<Vec<_>>()
    };
    let c = recv_once(&mut ring, &bufs, &server, 2048, true);
    assert!(
        c.result > 2048,
        "a one-shot bundle is not capped by its length: {c:?}"
    );
    let first = take(&mut bufs, &c);
    assert_eq!(first, (0..first.len() as u16).collect::<Vec<_>>());
    // Given back in the other order.
    for &bid in first.iter().rev() {
        bufs.release(bid);
    }
    let limit = 3000u32;
    let mode = RecvMode {
        multishot: true,
        bundle: true,
        limit,
    };
    ring.recv_provided(Target::Fd(server.as_raw_fd()), bufs.group(), 0, mode, 2)
        .unwrap();
    let mut total = 0;
    let mut bids = Vec::new();
    loop {
        let c = wait_one(&mut ring);
        assert!(c.result > 0, "{c:?}");
        total += c.result as u32;
        bids.extend(take(&mut bufs, &c));
        if !c.more() {
            break;
        }
    }
    assert_eq!(total, limit, "ends at its limit");
    let expect_first = if first.len() < 8 {
        first.len() as u16
    } else {
        7
    };
    assert_eq!(bids[0], expect_first, "from the ring's head");
    assert_eq!(got, data[..got.len()]);
}

/// With incremental consumption, small receives share a buffer, each
/// completion says whether the buffer stays (`F_BUF_MORE`), and the data is
/// where the bookkeeping says.
#[test]
fn incremental_receives_share_a_buffer() {
    if crate::sys::uring::available().is_err() {
        return;
    }
    let data = pattern(700);
    let (_client, server) = pair_with(&data);
    let mut ring = Ring::new(8).unwrap();
    let mut bufs = BufRing::register(&ring, 10, 4, 1024, true).unwrap();
    let mut pieces = Vec::new();
    let mut got = Vec::new();
    for want in [300u32, 400] {
        let c = recv_once(&mut ring, &bufs, &server, want, false);
        assert_eq!(c.result, want as i32, "{c:?}");
        assert_eq!(c.buffer_id(), Some(0), "both land in buffer 0");
        assert!(c.buf_more(), "buffer 0 has room left: {c:?}");
        bufs.consume(0, c.result as usize, c.buf_more(), &mut pieces)
            .unwrap();
    }
    for p in &pieces {
        got.extend_from_slice(bufs.data(*p));
    }
    assert_eq!(got, data);
    assert_eq!(pieces[1].off, 300);
    assert_eq!(bufs.free(), 4);
}
