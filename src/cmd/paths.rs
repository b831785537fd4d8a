//! Output paths that would destroy an input: `import tegrastats run.log -o
//! run.log`, `summary run.jsonl -o run.jsonl`, `watch --compare a.jsonl -o
//! a.jsonl` are refused before anything is written.
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Fails when `output` is the same file as any of `inputs` (same device and
/// inode, so another spelling, a symlink or a hard link is caught too). An
/// output that does not exist yet cannot be an input.
pub fn refuse_overwriting_input<'a>(
    output: &Path,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> anyhow::Result<()> {
    let Ok(out) = std::fs::metadata(output) else {
        return Ok(());
    };
    for input in inputs {
        let same =
            std::fs::metadata(input).is_ok_and(|m| m.dev() == out.dev() && m.ino() == out.ino());
        if same {
            anyhow::bail!(
                "refusing to write {}: it is the input {}, which would be lost; give another output file",
                output.display(),
                input.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_file_under_another_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jsonl");
        std::fs::write(&a, "x").unwrap();
        let b = dir.path().join("b.jsonl");
        std::fs::hard_link(&a, &b).unwrap();
        let dotted = dir.path().join(".").join("a.jsonl");
        assert!(refuse_overwriting_input(&dotted, [a.as_path()]).is_err());
        let e = refuse_overwriting_input(&b, [a.as_path()]).unwrap_err();
        assert!(e.to_string().contains("a.jsonl"), "{e}");
        let other = dir.path().join("c.jsonl");
        assert!(refuse_overwriting_input(&other, [a.as_path()]).is_ok());
        std::fs::write(&other, "y").unwrap();
        assert!(refuse_overwriting_input(&other, [a.as_path()]).is_ok());
    }
}
