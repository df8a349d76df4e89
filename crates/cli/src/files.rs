//! Small, careful file helpers: secret files created 0600 and never overwritten,
//! state files replaced atomically and durably.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use tallylog_core::publisher::ChainState;
use tallylog_core::types::ElectionId;

/// Where a key's chain position is kept by default: beside the key.
pub fn chain_path(key: &Path) -> PathBuf {
    let mut p = key.to_owned().into_os_string();
    p.push(".chain.json");
    PathBuf::from(p)
}

/// A key's chain position per election, kept in a small JSON file beside the
/// key so that events signed in different runs continue one chain.
#[derive(Default)]
pub struct ChainFile(BTreeMap<ElectionId, ChainState>);

impl ChainFile {
    pub fn load(path: &Path) -> Result<ChainFile> {
        if !path.exists() {
            return Ok(ChainFile::default());
        }
        let bytes = read_limited(path, 1 << 20)?;
        Ok(ChainFile(serde_json::from_slice(&bytes).with_context(
            || format!("reading the chain state {}", path.display()),
        )?))
    }
    pub fn get(&self, election: &ElectionId) -> ChainState {
        self.0.get(election).cloned().unwrap_or_default()
    }
    /// Records a newer position (never moves backwards).
    pub fn advance(&mut self, election: &ElectionId, state: ChainState) {
        if self.0.get(election).is_none_or(|old| state.seq > old.seq) {
            self.0.insert(election.clone(), state);
        }
    }
    pub fn save(&self, path: &Path) -> Result<()> {
        replace(path, &serde_json::to_vec_pretty(&self.0)?)
    }
}

/// Creates `path` with mode 0600 and writes `bytes`, refusing to replace an
/// existing file (a lost private key cannot be recovered).
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "creating {} (it must not exist already; tallylog never overwrites a key)",
                path.display()
            )
        })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    sync_parent(path)
}

/// Replaces `path` with `bytes` atomically: write a temporary file beside it,
/// fsync, rename, fsync the directory. The temporary file is created new, so
/// a symbolic link left at its name is removed, not written through.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = with_suffix(path, ".tmp");
    // A leftover from a crash, or a planted link: `remove_file` removes a link
    // itself, never its target.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing the stale {}", tmp.display()))
        }
        _ => {}
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    sync_parent(path)
}

/// Appends `bytes` to `path` and fsyncs it, creating it (and fsyncing its
/// directory) if it is new. Refuses a symbolic link (`O_NOFOLLOW`, so a link
/// put there at any moment is refused too): the file is tallylog's own
/// record, kept beside its input, not a pointer to somewhere else.
pub fn append_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let existed = path.exists();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => symlink_refused(path),
            _ => anyhow::Error::new(e).context(format!("opening {}", path.display())),
        })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    if existed {
        Ok(())
    } else {
        sync_parent(path)
    }
}

/// Fails if `path` is a symbolic link, as [`append_durably`] would.
pub fn refuse_symlink(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(symlink_refused(path)),
        _ => Ok(()),
    }
}

fn symlink_refused(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is a symbolic link; tallylog writes only to a file of its own there",
        path.display()
    )
}

/// `file` with `suffix` appended to its name (not replacing its extension).
pub fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut p = file.to_owned().into_os_string();
    p.push(suffix);
    PathBuf::from(p)
}

/// fsyncs the directory holding `path`, so that its name survives a crash.
pub fn sync_parent(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", parent.display()))
}

/// Reads a whole file, or standard input for `-`, refusing more than `limit` bytes.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    let n = if path == Path::new("-") {
        std::io::stdin().take(limit + 1).read_to_end(&mut buf)
    } else {
        File::open(path)
            .with_context(|| format!("opening {}", path.display()))?
            .take(limit + 1)
            .read_to_end(&mut buf)
    }
    .with_context(|| format!("reading {}", path.display()))?;
    if n as u64 > limit {
        anyhow::bail!("{} is larger than {limit} bytes", path.display());
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_a_file_never_writes_through_a_link_at_its_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let state = dir.path().join("state.json");
        std::os::unix::fs::symlink(&victim, dir.path().join("state.json.tmp")).unwrap();
        replace(&state, b"new state").unwrap();
        assert_eq!(std::fs::read(&state).unwrap(), b"new state");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert!(!dir.path().join("state.json.tmp").exists());
        // A second replace, with no leftover, works the same.
        replace(&state, b"newer").unwrap();
        assert_eq!(std::fs::read(&state).unwrap(), b"newer");
    }

    #[test]
    fn receipts_are_appended_to_a_file_of_their_own_and_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let receipts = dir.path().join("forms.jsonl.receipts.jsonl");
        append_durably(&receipts, b"one\n").unwrap();
        append_durably(&receipts, b"two\n").unwrap();
        assert_eq!(std::fs::read(&receipts).unwrap(), b"one\ntwo\n");

        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let linked = dir.path().join("other.jsonl.receipts.jsonl");
        std::os::unix::fs::symlink(&victim, &linked).unwrap();
        let err = append_durably(&linked, b"three\n").unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        let err = refuse_symlink(&linked).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert!(refuse_symlink(&receipts).is_ok());
        // A dangling link is refused as well, and its target not created.
        let dangling = dir.path().join("third.jsonl.receipts.jsonl");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        let err = append_durably(&dangling, b"four\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    }
}
