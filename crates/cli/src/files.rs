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
/// fsync, rename, fsync the directory.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    sync_parent(path)
}

fn sync_parent(path: &Path) -> Result<()> {
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
