//! An exclusive advisory lock (flock) on a session file while it is
//! written, so a second `record -o` of the same file is refused instead of
//! interleaving two recordings. The holder's pid is found in `/proc/locks`
//! (no sidecar file to leave behind after a crash); the kernel drops the
//! lock when the holder exits, however it exits.
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Take the lock on `file` without waiting. `Err` (kind `WouldBlock`) names
/// the process that holds it.
pub fn try_lock_exclusive(file: &File, path: &Path) -> io::Result<()> {
    match crate::sys::calls::try_flock_exclusive(file.as_raw_fd()) {
        Ok(true) => return Ok(()),
        Ok(false) => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("{}: cannot lock: {e}", path.display()),
            ))
        }
    }
    let holder = file
        .metadata()
        .ok()
        .and_then(|m| lock_holder(m.ino()))
        .map_or_else(
            || "another process".to_string(),
            |pid| format!("process {pid}"),
        );
    Err(io::Error::new(
        io::ErrorKind::WouldBlock,
        format!(
            "{} is being written by {holder} (another `trainwatt record`?): wait for it to finish or choose another -o",
            path.display()
        ),
    ))
}

/// The pid holding a FLOCK on the file with inode `ino`, from `/proc/locks`
/// (`1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF`).
fn lock_holder(ino: u64) -> Option<u32> {
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let at = f.iter().position(|x| *x == "FLOCK")?;
        let pid = f.get(at + 3)?.parse::<u32>().ok()?;
        let file_ino = f.get(at + 4)?.rsplit(':').next()?.parse::<u64>().ok()?;
        (file_ino == ino).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.jsonl");
        let a = File::create(&p).unwrap();
        try_lock_exclusive(&a, &p).unwrap();
        let b = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        let e = try_lock_exclusive(&b, &p).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let msg = e.to_string();
        assert!(msg.contains("s.jsonl is being written by"), "{msg}");
        if std::path::Path::new("/proc/locks").exists() {
            assert!(
                msg.contains(&format!("process {}", std::process::id())),
                "{msg}"
            );
        }
        drop(a);
        try_lock_exclusive(&b, &p).unwrap();
    }
}
