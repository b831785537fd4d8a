//! The forked side of [`super::spawn_watched`]: the watchdog and the
//! command's side of the second fork. Between `fork` and `exec` only
//! async-signal-safe system calls run, on memory prepared before the fork;
//! nothing here allocates.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

use super::{close, Fds, Prepared};

/// How often the watchdog looks for the command's exit where the kernel has
/// no pidfd (before Linux 5.3); with one it sleeps until something happens.
const FALLBACK_POLL_MS: i32 = 50;
/// With a pidfd the watchdog still wakes this often to reap stray orphans.
const REAP_EVERY_MS: i32 = 1000;

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn write_i32(fd: RawFd, v: i32) {
    let b = v.to_ne_bytes();
    // SAFETY: writing 4 bytes from a stack buffer to a pipe we hold.
    unsafe {
        libc::write(fd, b.as_ptr().cast(), b.len());
    }
}

/// Close every descriptor except 0-2 and `keep`.
fn close_all_except(keep: &mut [RawFd]) {
    keep.sort_unstable();
    let mut from: u32 = 3;
    for &k in keep.iter() {
        let k = k as u32;
        if k >= from {
            if k > from {
                close_range(from, k - 1);
            }
            from = k + 1;
        }
    }
    close_range(from, u32::MAX);
}

fn close_range(first: u32, last: u32) {
    // SAFETY: close_range only closes descriptors of this (forked) process.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if r != 0 {
        // Before Linux 5.9: one by one, up to a usual limit.
        for fd in first..=last.min(4095) {
            close(fd as RawFd);
        }
    }
}

/// The watchdog process. Never returns.
pub(super) fn watchdog(prep: &Prepared, fds: &Fds) -> ! {
    // SAFETY (whole function): raw system calls on descriptors and memory
    // prepared before the fork; nothing allocates.
    unsafe {
        libc::setpgid(0, 0);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::signal(sig, libc::SIG_DFL);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        close_all_except(&mut [fds.out.1, fds.err.1, fds.ctl.0, fds.rep.1, fds.exe.1]);
        // If trainwatt died before we got here, its end of the control pipe
        // is closed already and the loop below sees end-of-file at once.
        let cmd = libc::fork();
        if cmd == 0 {
            exec_command(prep, fds);
        }
        if cmd < 0 {
            write_i32(fds.exe.1, errno());
            libc::_exit(127);
        }
        for fd in [fds.exe.1, fds.out.1, fds.err.1] {
            libc::close(fd);
        }
        let status = watch(cmd, fds.ctl.0);
        write_i32(fds.rep.1, status);
        libc::_exit(0);
    }
}

/// The command's side of the second fork: its own group, stdin from
/// /dev/null, stdout and stderr into the pipes, then exec. Never returns.
fn exec_command(prep: &Prepared, fds: &Fds) -> ! {
    // SAFETY: as in `watchdog`; the pointers come from CStrings that live in
    // `prep`, copied into this process by the fork.
    unsafe {
        libc::setpgid(0, 0);
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let null = libc::open(prep.dev_null.as_ptr(), libc::O_RDONLY);
        if null >= 0 {
            libc::dup2(null, 0);
        }
        libc::dup2(fds.out.1, 1);
        libc::dup2(fds.err.1, 2);
        libc::execve(
            prep.path.as_ptr(),
            prep.argv_ptrs.as_ptr(),
            prep.envp_ptrs.as_ptr(),
        );
        write_i32(fds.exe.1, errno());
        libc::_exit(127);
    }
}

/// Wait for `cmd` while obeying the control pipe; then clear the tree.
/// Returns the command's wait status.
fn watch(cmd: libc::pid_t, ctl: RawFd) -> i32 {
    // SAFETY: raw system calls; `cmd` is our child and is reaped only at the
    // end, so signalling its group (id = its pid) cannot reach anyone else.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, cmd, 0) as RawFd;
        loop {
            let mut p = [
                libc::pollfd {
                    fd: ctl,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: pidfd,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let (n, ms) = if pidfd >= 0 {
                (2, REAP_EVERY_MS)
            } else {
                (1, FALLBACK_POLL_MS)
            };
            libc::poll(p.as_mut_ptr(), n, ms);
            if p[0].revents != 0 {
                let mut b = 0u8;
                let r = libc::read(ctl, (&mut b as *mut u8).cast(), 1);
                if r == 0 || (r < 0 && errno() != libc::EINTR && errno() != libc::EAGAIN) {
                    // trainwatt is gone: nobody will read the training's
                    // results, and nobody else would stop it.
                    libc::kill(-cmd, libc::SIGKILL);
                    break;
                }
                match b {
                    b'T' => libc::kill(-cmd, libc::SIGTERM),
                    b'K' => libc::kill(-cmd, libc::SIGKILL),
                    _ => 0,
                };
            }
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let r = libc::waitid(
                libc::P_PID,
                cmd as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            if r == 0 && info.si_pid() == cmd {
                break;
            }
            reap_others(cmd);
        }
        // The leader has ended (or trainwatt has) but is not reaped yet:
        // whatever is left of its group goes with it.
        libc::kill(-cmd, libc::SIGKILL);
        let mut status = 0;
        while libc::waitpid(cmd, &mut status, 0) < 0 && errno() == libc::EINTR {}
        kill_descendants();
        status
    }
}

/// Reap ended children other than `cmd` (orphans re-parented to us).
fn reap_others(cmd: libc::pid_t) {
    // SAFETY: waitid/waitpid on our own children.
    unsafe {
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let r = libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            let pid = info.si_pid();
            if r != 0 || pid == 0 || pid == cmd {
                return;
            }
            let mut st = 0;
            libc::waitpid(pid, &mut st, 0);
        }
    }
}

/// Kill and reap every remaining child (orphaned descendants come to us, the
/// subreaper) until there are none.
fn kill_descendants() {
    // "/proc/self/task/<pid>/children": the watchdog has one thread.
    let mut path = [0u8; 64];
    let prefix = b"/proc/self/task/";
    path[..prefix.len()].copy_from_slice(prefix);
    // SAFETY: getpid has no preconditions.
    let len =
        prefix.len() + write_decimal(unsafe { libc::getpid() } as u64, &mut path[prefix.len()..]);
    let suffix = b"/children\0";
    path[len..len + suffix.len()].copy_from_slice(suffix);
    let mut idle_rounds = 0;
    loop {
        let listed = kill_listed_children(&path);
        let mut st = 0;
        // SAFETY: reaping our own children.
        let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if r < 0 && errno() == libc::ECHILD {
            return;
        }
        if r == 0 {
            // Children left but none ended yet (SIGKILL takes a moment, or
            // /proc could not list them): wait a little, then look again.
            idle_rounds += 1;
            if listed.is_none() && idle_rounds > 200 {
                return;
            }
            // SAFETY: plain sleep.
            unsafe {
                libc::usleep(10_000);
            }
        }
    }
}

/// SIGKILL every child listed in `path` (a NUL-terminated /proc children
/// file). None when the file cannot be read.
fn kill_listed_children(path: &[u8]) -> Option<usize> {
    let mut buf = [0u8; 4096];
    // SAFETY: `path` is NUL-terminated; `buf` is a stack buffer we read into.
    let n = unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    if n < 0 {
        return None;
    }
    let mut count = 0;
    let mut pid: i64 = 0;
    let mut digits = false;
    for &c in buf[..n as usize].iter().chain(std::iter::once(&b' ')) {
        if c.is_ascii_digit() {
            pid = pid * 10 + i64::from(c - b'0');
            digits = true;
        } else if digits {
            // SAFETY: `pid` is our unreaped child, so the id is still its.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            count += 1;
            pid = 0;
            digits = false;
        }
    }
    Some(count)
}

/// Write `v` in decimal into `out`; returns the number of bytes.
fn write_decimal(mut v: u64, out: &mut [u8]) -> usize {
    let mut tmp = [0u8; 20];
    let mut n = 0;
    loop {
        tmp[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in 0..n {
        out[i] = tmp[n - 1 - i];
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written() {
        let mut b = [0u8; 20];
        let n = write_decimal(40213, &mut b);
        assert_eq!(&b[..n], b"40213");
        assert_eq!(write_decimal(0, &mut b), 1);
        assert_eq!(b[0], b'0');
    }
}
