//! The [`Multiplexer`] contract and its backends.
//!
//! A backend is small on purpose (like Redis's `ae_*.c` or mio's `Selector`):
//! register / reregister / deregister a descriptor with a [`Token`] and an
//! [`Interest`], and [`wait`](Multiplexer::wait) for [`Events`]. State that every
//! backend needs (the connection table) lives in the server, not here, so the
//! backends differ only in the mechanism being measured.
//!
//! Contract shared by all backends (the conformance suite in
//! `tests/mux_conformance.rs` checks it for each):
//! - `wait` interrupted by a signal (`EINTR`) returns `Ok(0)`, never an error.
//! - Registering a descriptor twice, or re-/deregistering an unknown one, is an error.
//! - Spurious events are possible (a token may be reported for a descriptor that
//!   has since been closed and reused); callers must tolerate `EAGAIN`.
//! - [`Trigger::Level`] backends report a descriptor on every wait while it is
//!   ready; [`Trigger::Edge`] backends once per readiness change, so the caller
//!   must drain (read until the receive queue is empty) or remember to come back.

use std::io;

use crate::backend::Backend;

mod contract;
mod epoll;
mod poll;
mod select;
mod uring_poll;

pub use epoll::Epoll;
pub use poll::Poll;
pub use select::Select;
pub use uring_poll::UringPoll;

pub use crate::backend::Trigger;
pub use contract::{Event, Events, Interest, Multiplexer, MuxStats, Token};

/// A fresh multiplexer for `backend`, boxed (tests and benches use one body for
/// every backend); `None` for a backend that is not a readiness multiplexer.
pub fn make(backend: Backend) -> io::Result<Option<Box<dyn Multiplexer>>> {
    Ok(crate::with_multiplexer!(backend, |mux| Box::new(mux) as Box<dyn Multiplexer>))
}

/// Evaluate `$body` with a freshly created multiplexer of type `backend`,
/// monomorphised: the match happens once and `$body` is compiled separately
/// for each backend, so the hot loop pays for no dynamic dispatch. Evaluates
/// to `Some(body)`, or `None` for a backend whose serving model is not a
/// readiness multiplexer. Creation errors are returned with `?`.
#[macro_export]
macro_rules! with_multiplexer {
    ($backend:expr, |$mux:ident| $body:expr) => {
        match $backend {
            $crate::backend::Backend::Select => {
                let $mux = $crate::mux::Select::new()?;
                Some($body)
            }
            $crate::backend::Backend::Poll => {
                let $mux = $crate::mux::Poll::new()?;
                Some($body)
            }
            $crate::backend::Backend::EpollLt => {
                let $mux = $crate::mux::Epoll::new($crate::mux::Trigger::Level)?;
                Some($body)
            }
            $crate::backend::Backend::EpollEt => {
                let $mux = $crate::mux::Epoll::new($crate::mux::Trigger::Edge)?;
                Some($body)
            }
            $crate::backend::Backend::UringPoll => {
                let $mux = $crate::mux::UringPoll::new()?;
                Some($body)
            }
            // Every other serving model has no multiplexer.
            _ => None,
        }
    };
}
