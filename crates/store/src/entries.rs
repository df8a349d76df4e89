//! The entries file: every entry's canonical bytes, in log order, each preceded
//! by its length (u32 big-endian). It is only ever appended to.
//!
//! The entries are most of the log's bytes, and sled is a poor place for them:
//! it writes every value to its own log, then again as it rewrites pages, and
//! its cost per batch grew with them. Here they are written once, with one
//! `pwrite` and one `fdatasync` per batch; sled keeps only where each batch's
//! entries are (a location record, `l` + the batch's first index) beside the
//! indexes and the head, in the same atomic batch as before.
//!
//! Order on disk, per batch: the entries are written and fsynced first, then
//! sled's batch (which makes them part of the log) is applied and fsynced. A
//! crash between the two leaves bytes past the last located entry; opening the
//! store cuts them off (they were never acknowledged). The file can never be
//! shorter than the locations say, because they are written only after it is
//! durable; if it is, the store refuses to open.
//!
//! The length prefixes make the file readable on its own: an auditor (or a
//! person recovering a store whose sled database is lost) can walk it from
//! byte 0 and check every entry's chain link.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The file's name in the store's directory.
pub const FILE_NAME: &str = "entries";

/// Bytes before each entry: its length, u32 big-endian.
pub(crate) const PREFIX: u64 = 4;

pub(crate) struct EntriesFile {
    file: File,
    /// Where the last located entry ends: the next batch is written here.
    end: u64,
}

impl EntriesFile {
    /// Opens the file, creating it if it is missing; says whether it did.
    pub(crate) fn open(dir: &Path) -> io::Result<(EntriesFile, bool)> {
        let path = dir.join(FILE_NAME);
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok((EntriesFile { file, end: 0 }, created))
    }

    pub(crate) fn len_on_disk(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Sets the end of the located entries, cutting off (durably) whatever
    /// lies beyond it: the unlocated tail of a batch a crash interrupted.
    pub(crate) fn cut_to(&mut self, end: u64) -> io::Result<u64> {
        let len = self.len_on_disk()?;
        if len > end {
            self.file.set_len(end)?;
            self.file.sync_all()?;
        }
        self.end = end;
        Ok(len.saturating_sub(end))
    }

    /// Writes a batch's records after the end. The end does not move until
    /// [`advance`](Self::advance): until sled locates them they are not part
    /// of the log, and a failed batch's bytes are overwritten by the next.
    pub(crate) fn write_batch(&self, records: &[u8]) -> io::Result<()> {
        self.file.write_all_at(records, self.end)
    }

    pub(crate) fn advance(&mut self, by: u64) {
        self.end += by;
    }

    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Reads `len` bytes of records at `offset`.
    pub(crate) fn read(&self, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }
}

/// Appends one entry's record (length, then bytes) to `out`.
pub(crate) fn push_record(out: &mut Vec<u8>, entry: &[u8]) {
    let len = u32::try_from(entry.len()).expect("invariant: entries are far below 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(entry);
}

/// A batch's location record: where its first entry's record starts in the
/// file (u64 BE), then each entry's length (u32 BE).
pub(crate) struct Location<'a> {
    pub start: u64,
    lengths: &'a [u8],
}

impl<'a> Location<'a> {
    pub(crate) fn decode(v: &'a [u8]) -> Option<Location<'a>> {
        if v.len() < 8 || !(v.len() - 8).is_multiple_of(4) {
            return None;
        }
        Some(Location {
            start: u64::from_be_bytes(v[..8].try_into().ok()?),
            lengths: &v[8..],
        })
    }

    pub(crate) fn encode(start: u64, lengths: &[u32]) -> Vec<u8> {
        let mut v = Vec::with_capacity(8 + 4 * lengths.len());
        v.extend_from_slice(&start.to_be_bytes());
        for l in lengths {
            v.extend_from_slice(&l.to_be_bytes());
        }
        v
    }

    /// How many entries the batch holds.
    pub(crate) fn count(&self) -> u64 {
        (self.lengths.len() / 4) as u64
    }

    pub(crate) fn len(&self, k: u64) -> u64 {
        let at = 4 * k as usize;
        u64::from(u32::from_be_bytes(
            self.lengths[at..at + 4]
                .try_into()
                .expect("invariant: four bytes"),
        ))
    }

    /// Where the record of the batch's `k`th entry starts.
    pub(crate) fn offset(&self, k: u64) -> u64 {
        self.start + (0..k).map(|j| PREFIX + self.len(j)).sum::<u64>()
    }

    /// Where the batch's records end.
    pub(crate) fn end(&self) -> u64 {
        self.offset(self.count())
    }
}

/// Splits records read from the file into entries, checking each length
/// prefix against the location record's.
pub(crate) fn split(
    bytes: &[u8],
    lengths: impl Iterator<Item = u64>,
) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for want in lengths {
        let prefix = bytes
            .get(at..at + 4)
            .ok_or("the entries file ends inside a record")?;
        let got = u64::from(u32::from_be_bytes(prefix.try_into().expect("four bytes")));
        if got != want {
            return Err(format!(
                "a record's length prefix says {got} bytes where the location record says {want}"
            ));
        }
        let body = bytes
            .get(at + 4..at + 4 + want as usize)
            .ok_or("the entries file ends inside a record")?;
        out.push(body);
        at += 4 + want as usize;
    }
    Ok(out)
}
