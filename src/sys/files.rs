//! Descriptors and files: duplicating, pipes, a file created exclusively and
//! a private directory — the safe-by-construction ways the harness makes the
//! files other processes (or users) could otherwise reach.
//!
//! All through `rustix` and std: none of this is measured.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd, RawFd};

/// Duplicate `fd` onto the lowest free descriptor number `>= min`
/// (`F_DUPFD_CLOEXEC`, through `rustix`).
pub fn dup_at_least(fd: &impl AsFd, min: RawFd) -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(fd, min)?)
}

/// A non-blocking, close-on-exec pipe: `(read end, write end)` (through `rustix`).
pub fn pipe() -> io::Result<(File, File)> {
    use rustix::pipe::PipeFlags;
    let (read, write) = rustix::pipe::pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    Ok((File::from(read), File::from(write)))
}

/// Create `path` as a new regular file for reading and writing: refused if
/// anything is there already (`O_EXCL`), a symlink included, and never
/// following one (`O_NOFOLLOW`) — so a name another user could guess cannot
/// be turned into a write to a file of theirs or of root's.
pub fn create_exclusive(path: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(path)
}

/// A new directory only this user can enter (0700), with a name nobody can
/// guess (`prefix` and 64 random bits), under `parent`; made with `mkdir`,
/// which fails on anything already there, so nothing can be planted in it.
pub fn private_dir(parent: &std::path::Path, prefix: &str) -> io::Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    for _ in 0..16 {
        let path = parent.join(format!("{prefix}{:016x}", rand::random::<u64>()));
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no fresh directory name under {}", parent.display()),
    ))
}
