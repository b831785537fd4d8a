//! Small safe wrappers over the remaining system calls the rest of the crate
//! needs, so that `unsafe` stays in this module (the crate denies it
//! elsewhere).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

/// Clock ticks per second of /proc's CPU times (USER_HZ), 100 when unknown.
pub fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// The memory page size in bytes, 4096 when unknown.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `flock(fd, LOCK_EX | LOCK_NB)`: Ok(true) when taken, Ok(false) when
/// another open file description holds it.
pub fn try_flock_exclusive(fd: RawFd) -> io::Result<bool> {
    // SAFETY: flock only reads the descriptor number; the caller keeps the
    // file open for the duration of the call.
    if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// What `poll` saw on one descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    pub readable: bool,
    /// Hung up, errored, or not a valid descriptor.
    pub closed: bool,
}

/// Block until one of `fds` is readable or closed (for ever). An
/// interrupted wait returns every descriptor as not ready.
pub fn poll_readable<const N: usize>(fds: [RawFd; N]) -> io::Result<[Ready; N]> {
    let mut p = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: N valid pollfd structs in an array we own, for the call's duration.
    let n = unsafe { libc::poll(p.as_mut_ptr(), N as libc::nfds_t, -1) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok([Ready::default(); N])
        } else {
            Err(e)
        };
    }
    Ok(p.map(|p| Ready {
        readable: p.revents & libc::POLLIN != 0,
        closed: p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
    }))
}

/// Ask the kernel to SIGKILL the child `cmd` starts when this thread's
/// process dies (a helper like tegrastats must not outlive the monitor).
pub fn kill_child_with_parent(cmd: &mut std::process::Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// Whether a process with this id exists (signal 0).
pub fn process_exists(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    unsafe { libc::kill(pid, 0) == 0 }
}
