//! A sysfs attribute kept open and re-read from offset 0: two system calls per
//! reading, no allocation, so the sysfs readers sustain 1 kHz cheaply.
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Opens a file; injectable so tests can make it fail like a root-only file.
pub type Opener = fn(&Path) -> io::Result<File>;

pub fn open_plain(p: &Path) -> io::Result<File> {
    File::open(p)
}

pub struct SysfsFile {
    pub path: PathBuf,
    file: File,
    buf: [u8; 64],
}

impl SysfsFile {
    pub fn open(path: &Path, opener: Opener) -> io::Result<Self> {
        Ok(SysfsFile {
            path: path.to_path_buf(),
            file: opener(path)?,
            buf: [0; 64],
        })
    }

    /// The attribute's integer value, read fresh.
    pub fn read_i64(&mut self) -> io::Result<i64> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut n = 0;
        loop {
            let k = self.file.read(&mut self.buf[n..])?;
            if k == 0 {
                break;
            }
            n += k;
            if n == self.buf.len() {
                break;
            }
        }
        parse_i64(&self.buf[..n]).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "`{}` is not an integer",
                    String::from_utf8_lossy(&self.buf[..n]).trim()
                ),
            )
        })
    }
}

/// An integer from sysfs text (`12345\n`, `-3`).
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b)
        .ok()?
        .trim_matches(|c: char| c.is_whitespace() || c == '\0');
    s.parse::<i64>().ok()
}

/// A small text attribute (a label, a name), trimmed; `None` when unreadable.
pub fn read_text(p: &Path) -> Option<String> {
    let s = std::fs::read_to_string(p).ok()?;
    Some(
        s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rereads_the_same_open_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("energy_uj");
        std::fs::write(&p, "123\n").unwrap();
        let mut f = SysfsFile::open(&p, open_plain).unwrap();
        assert_eq!(f.read_i64().unwrap(), 123);
        std::fs::write(&p, "4567890123\n").unwrap();
        assert_eq!(f.read_i64().unwrap(), 4_567_890_123);
        std::fs::write(&p, "oops\n").unwrap();
        assert!(f.read_i64().unwrap_err().to_string().contains("oops"));
    }
}
