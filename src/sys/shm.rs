//! The server's counters page: a file mapped `MAP_SHARED` as 64-bit atomic
//! words, written by the server and read by the load generator in another
//! process — as direct a reading as getrusage, with no syscall per read.
//!
//! The mapping itself is `memmap2`'s (unmapped on drop); what stays here is the
//! length check and the one `unsafe` step of viewing the bytes as atomics. The
//! file is made by [`create_exclusive`](super::files::create_exclusive)
//! (`O_EXCL | O_NOFOLLOW`, mode 0600) by whoever publishes the page.

use std::fs::File;
use std::io;
use std::sync::atomic::AtomicU64;

/// A file mapped `MAP_SHARED` as 64-bit atomic words: the server's counters
/// page, written by the server and read by the load generator in another
/// process. Unmapped on drop.
pub struct SharedWords {
    map: memmap2::MmapRaw,
    len: usize,
}

impl SharedWords {
    /// Map the first `words` 64-bit words of `file` (which must be at least
    /// that long, or touching the end would raise SIGBUS), writable or read-only.
    pub fn map(file: &File, words: usize, writable: bool) -> io::Result<SharedWords> {
        let bytes = words
            .checked_mul(8)
            .filter(|&b| b > 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad mapping size"))?;
        if file.metadata()?.len() < bytes as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the file is shorter than the {bytes} bytes to map"),
            ));
        }
        let mut options = memmap2::MmapOptions::new();
        options.len(bytes);
        // A fresh MAP_SHARED mapping chosen by the kernel, of a file checked to
        // be long enough; no flags beyond what the page needs.
        let map = if writable {
            options.map_raw(file)?
        } else {
            options.map_raw_read_only(file)?
        };
        Ok(SharedWords { map, len: words })
    }

    /// The words. Another process may change them at any time: read them with
    /// a protocol (the counters page uses a sequence lock).
    pub fn words(&self) -> &[AtomicU64] {
        debug_assert!(self.map.len() >= self.len * 8);
        // SAFETY: the mapping is page-aligned (so 8-byte aligned), at least
        // `len * 8` bytes long (checked in `map`) and alive as long as `self`;
        // AtomicU64 has the layout of u64, any bit pattern is valid, and it
        // allows shared mutation (by us or by the other process; atomic loads
        // from a read-only mapping are plain loads). No `&[u8]` view of the
        // mapping exists to alias it.
        unsafe { std::slice::from_raw_parts(self.map.as_mut_ptr().cast::<AtomicU64>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn a_write_through_one_mapping_is_read_through_another() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(4096).unwrap();
        let writer = SharedWords::map(&file, 512, true).unwrap();
        let reader = SharedWords::map(&file, 512, false).unwrap();
        writer.words()[511].store(0xfeed, Ordering::Release);
        assert_eq!(reader.words().len(), 512);
        assert_eq!(reader.words()[511].load(Ordering::Acquire), 0xfeed);
    }

    #[test]
    fn a_short_file_or_no_words_is_refused() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(8).unwrap();
        assert!(SharedWords::map(&file, 2, false).is_err());
        assert!(SharedWords::map(&file, 0, false).is_err());
        assert!(SharedWords::map(&file, 1, false).is_ok());
    }
}
