//! The one checked wrapper every raw libc call in the crate goes through.
//!
//! [`syscall!`] turns the C convention (`-1` and `errno`) into an
//! [`io::Result`](std::io::Result). It lives in a file of its own so each
//! sibling (`wait`, `net`, `usage`, `perf`, …) imports it directly
//! (`use super::syscall::syscall;`) and none of them has to import another
//! just for it.

/// Call a libc function and map a negative return value to the current `errno`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(unused_unsafe)]
        // SAFETY: each call site passes pointers and lengths that are valid for
        // the duration of the call; see the comment next to it.
        let res = unsafe { libc::$fn($($arg),*) };
        if res < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

pub(crate) use syscall;
