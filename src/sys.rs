//! The system calls behind running a training command (every `unsafe` libc
//! call of the supervisor is here, each with its SAFETY argument).
//!
//! A command runs under a watchdog: a process forked from trainwatt that
//! becomes a child subreaper (orphans of the command's tree are re-parented to
//! it, not to PID 1), starts the command in its own process group, and waits.
//! It holds the read end of a control pipe whose write end only trainwatt
//! holds: a byte `T` sends SIGTERM to the command's group, `K` SIGKILL, and
//! end-of-file (trainwatt exited, or was killed with SIGKILL) kills the group
//! and every descendant left. When the command ends, the watchdog kills what is
//! left of its group and tree, reports the command's wait status on a second
//! pipe and exits. The group is only signalled while its leader is unreaped
//! (the watchdog looks with `WNOWAIT`), so its id cannot belong to anyone else.
//!
//! Between `fork` and `exec` a multi-threaded program may only make
//! async-signal-safe calls: everything the watchdog and the command's side
//! need (paths, argument and environment vectors) is allocated before the
//! fork, and after it only raw system calls run, without allocating.
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

/// How often the watchdog looks for the command's exit where the kernel has
/// no pidfd (before Linux 5.3); with one it sleeps until something happens.
const FALLBACK_POLL_MS: i32 = 50;
/// With a pidfd the watchdog still wakes this often to reap stray orphans.
const REAP_EVERY_MS: i32 = 1000;

/// A command running under its watchdog.
#[derive(Debug)]
pub struct Watched {
    watchdog: libc::pid_t,
    /// The command's stdout and stderr (read ends), until taken.
    pub stdout: Option<File>,
    pub stderr: Option<File>,
    control: Option<File>,
    report: File,
    reaped: bool,
}

/// A pipe with both ends close-on-exec: (read, write).
fn pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((fds[0], fds[1]))
}

fn close(fd: RawFd) {
    // SAFETY: closing a descriptor this module created and owns.
    unsafe {
        libc::close(fd);
    }
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{:?} contains a NUL byte", s),
        )
    })
}

/// `program` as execve needs it: a path with a slash as given, else the first
/// executable file of that name on PATH.
pub fn find_program(program: &OsStr) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

/// Whether `p` is a regular file someone may execute.
pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Everything the forked side needs, allocated before the fork.
struct Prepared {
    path: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
    dev_null: CString,
}

fn prepare(argv: &[OsString], env: &[(OsString, OsString)]) -> io::Result<Prepared> {
    let program = argv
        .first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let path = find_program(program).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "not found (no such file, nor an executable of that name on PATH)",
        )
    })?;
    let args = argv
        .iter()
        .map(|a| cstring(a))
        .collect::<io::Result<Vec<_>>>()?;
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !env.iter().any(|(e, _)| e == k))
        .collect();
    vars.extend(env.iter().cloned());
    let envs = vars
        .iter()
        .map(|(k, v)| {
            let mut kv = k.clone();
            kv.push("=");
            kv.push(v);
            cstring(&kv)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let ptrs = |v: &[CString]| {
        v.iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect::<Vec<_>>()
    };
    Ok(Prepared {
        path: cstring(path.as_os_str())?,
        argv_ptrs: ptrs(&args),
        _argv: args,
        envp_ptrs: ptrs(&envs),
        _envp: envs,
        dev_null: CString::new("/dev/null").map_err(io::Error::other)?,
    })
}

/// The descriptors of one spawn: pipes for stdout, stderr, control, report
/// and the exec error.
struct Fds {
    out: (RawFd, RawFd),
    err: (RawFd, RawFd),
    ctl: (RawFd, RawFd),
    rep: (RawFd, RawFd),
    exe: (RawFd, RawFd),
}

impl Fds {
    fn open() -> io::Result<Fds> {
        let mut made: Vec<(RawFd, RawFd)> = Vec::with_capacity(5);
        for _ in 0..5 {
            match pipe() {
                Ok(p) => made.push(p),
                Err(e) => {
                    for (r, w) in made {
                        close(r);
                        close(w);
                    }
                    return Err(e);
                }
            }
        }
        Ok(Fds {
            out: made[0],
            err: made[1],
            ctl: made[2],
            rep: made[3],
            exe: made[4],
        })
    }
}

/// Start `argv` (extra `env` on top of ours) under a watchdog. Fails when the
/// program cannot be found or executed (nothing is left running then).
pub fn spawn_watched(argv: &[OsString], env: &[(OsString, OsString)]) -> io::Result<Watched> {
    let prep = prepare(argv, env)?;
    let fds = Fds::open()?;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: fork duplicates the calling thread only; the child runs
    // `watchdog`, which makes async-signal-safe system calls only and never
    // returns (it ends in _exit).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = io::Error::last_os_error();
        for (r, w) in [fds.out, fds.err, fds.ctl, fds.rep, fds.exe] {
            close(r);
            close(w);
        }
        return Err(e);
    }
    if pid == 0 {
        watchdog(&prep, &fds, parent);
    }
    for fd in [fds.out.1, fds.err.1, fds.ctl.0, fds.rep.1, fds.exe.1] {
        close(fd);
    }
    // SAFETY: each descriptor is ours alone from here on, owned by one File.
    let (stdout, stderr, control, report, exe) = unsafe {
        (
            File::from_raw_fd(fds.out.0),
            File::from_raw_fd(fds.err.0),
            File::from_raw_fd(fds.ctl.1),
            File::from_raw_fd(fds.rep.0),
            File::from_raw_fd(fds.exe.0),
        )
    };
    let mut w = Watched {
        watchdog: pid,
        stdout: Some(stdout),
        stderr: Some(stderr),
        control: Some(control),
        report,
        reaped: false,
    };
    // End of file: the command was executed (its copy closed on exec).
    let mut errno = [0u8; 4];
    let n = read_full(&exe, &mut errno);
    drop(exe);
    if n == 4 {
        let _ = w.wait_timeout(None);
        return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)));
    }
    Ok(w)
}

fn read_full(mut f: &File, buf: &mut [u8]) -> usize {
    use std::io::Read;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    n
}

impl Watched {
    /// SIGTERM (or with `hard`, SIGKILL) to the command's process group.
    pub fn signal(&mut self, hard: bool) -> io::Result<()> {
        use std::io::Write;
        match &mut self.control {
            Some(c) => c.write_all(if hard { b"K" } else { b"T" }),
            None => Ok(()),
        }
    }

    /// Wait until the command has ended (and its tree with it), at most
    /// `timeout` (None: as long as it takes). `Ok(None)`: still running.
    pub fn wait_timeout(&mut self, timeout: Option<Duration>) -> io::Result<Option<ExitStatus>> {
        if self.reaped {
            return Err(io::Error::other("the command was already waited for"));
        }
        let ms = timeout.map_or(-1, |d| d.as_millis().min(i32::MAX as u128) as i32);
        let mut pfd = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&self.report),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for a descriptor we own.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            };
        }
        if r == 0 {
            return Ok(None);
        }
        let mut raw = [0u8; 4];
        let n = read_full(&self.report, &mut raw);
        let watchdog = self.reap_watchdog()?;
        // Without a report the watchdog itself was killed: say how.
        Ok(Some(if n == 4 {
            ExitStatus::from_raw(i32::from_ne_bytes(raw))
        } else {
            watchdog
        }))
    }

    fn reap_watchdog(&mut self) -> io::Result<ExitStatus> {
        self.control = None;
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child; status is a valid out-pointer.
            let r = unsafe { libc::waitpid(self.watchdog, &mut status, 0) };
            if r == self.watchdog {
                self.reaped = true;
                return Ok(ExitStatus::from_raw(status));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                self.reaped = true;
                return Err(e);
            }
        }
    }
}

impl Drop for Watched {
    /// Closing the control pipe makes the watchdog kill the whole tree; then
    /// the watchdog is reaped so no zombie is left.
    fn drop(&mut self) {
        if !self.reaped {
            self.control = None;
            let _ = self.reap_watchdog();
        }
    }
}

/// End this process now with `code`, without running exit handlers or
/// static destructors (libtorch's take a noticeable part of a second). The
/// caller flushes what it wrote first.
pub fn exit_immediately(code: u8) -> ! {
    // SAFETY: _exit has no preconditions; nothing of ours is left unwritten.
    unsafe { libc::_exit(i32::from(code)) }
}

// ---- The forked side: async-signal-safe calls only, no allocation. ----

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
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
fn watchdog(prep: &Prepared, fds: &Fds, parent: libc::pid_t) -> ! {
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
        // trainwatt died before we got here: its end of the control pipe is
        // closed already and the loop below sees end-of-file at once.
        let _ = parent;
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
    let mut len = prefix.len() + write_decimal(unsafe { libc::getpid() } as u64, &mut path[prefix.len()..]);
    let suffix = b"/children\0";
    path[len..len + suffix.len()].copy_from_slice(suffix);
    len += suffix.len();
    let _ = len;
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

    #[test]
    fn exit_status_and_output_come_back() {
        use std::io::Read;
        let argv: Vec<OsString> = ["sh", "-c", "echo out; echo err >&2; exit 7"]
            .iter()
            .map(OsString::from)
            .collect();
        let mut w = spawn_watched(&argv, &[]).unwrap();
        let mut out = String::new();
        w.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let mut err = String::new();
        w.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let st = w.wait_timeout(None).unwrap().unwrap();
        assert_eq!((out.as_str(), err.as_str(), st.code()), ("out\n", "err\n", Some(7)));
    }

    #[test]
    fn a_missing_program_fails_to_start() {
        let e = spawn_watched(&[OsString::from("/nonexistent/x")], &[]).err();
        assert!(e.is_some());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notexec");
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        let e = spawn_watched(&[p.into_os_string()], &[]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn a_term_request_signals_the_group() {
        let argv: Vec<OsString> = ["sh", "-c", "sleep 300 & sleep 300; wait"]
            .iter()
            .map(OsString::from)
            .collect();
        let mut w = spawn_watched(&argv, &[]).unwrap();
        assert!(w.wait_timeout(Some(Duration::from_millis(100))).unwrap().is_none());
        w.signal(false).unwrap();
        let st = w.wait_timeout(Some(Duration::from_secs(10))).unwrap().unwrap();
        assert_eq!(st.signal(), Some(libc::SIGTERM));
    }
}
