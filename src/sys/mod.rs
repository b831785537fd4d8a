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

pub mod calls;
mod watchdog;

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

pub(crate) fn close(fd: RawFd) {
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
pub(crate) struct Prepared {
    pub(crate) path: CString,
    _argv: Vec<CString>,
    pub(crate) argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    pub(crate) envp_ptrs: Vec<*const libc::c_char>,
    pub(crate) dev_null: CString,
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
pub(crate) struct Fds {
    pub(crate) out: (RawFd, RawFd),
    pub(crate) err: (RawFd, RawFd),
    pub(crate) ctl: (RawFd, RawFd),
    pub(crate) rep: (RawFd, RawFd),
    pub(crate) exe: (RawFd, RawFd),
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
        watchdog::watchdog(&prep, &fds);
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            (out.as_str(), err.as_str(), st.code()),
            ("out\n", "err\n", Some(7))
        );
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
        assert!(w
            .wait_timeout(Some(Duration::from_millis(100)))
            .unwrap()
            .is_none());
        w.signal(false).unwrap();
        let st = w
            .wait_timeout(Some(Duration::from_secs(10)))
            .unwrap()
            .unwrap();
        assert_eq!(st.signal(), Some(libc::SIGTERM));
    }
}
