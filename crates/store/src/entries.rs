//! The entries file: every entry's canonical bytes, in log order, each preceded
//! by its length (u32 big-endian), a batch at a time, each batch preceded by a
//! header. It is only appended to, but for one byte per batch: the header's
//! commit flag, set once sled has taken the batch.
//!
//! A batch header is 32 bytes: `ff ff ff ff` (a length no entry can have),
//! the batch's first index (u64 BE), its number of entries (u32 BE), the
//! bytes of its entry records (u64 BE), the commit flag (0, then 1) and seven
//! zero bytes.
//!
//! The entries are most of the log's bytes, and sled is a poor place for them:
//! it writes every value to its own log, then again as it rewrites pages, and
//! its cost per batch grew with them. Here they are written once, with one
//! `pwrite` and one `fdatasync` per batch; sled keeps only where each batch's
//! entries are (a location record, `l` + the batch's first index) beside the
//! indexes and the head, in the same atomic batch as before.
//!
//! Order on disk, per batch: the entries are written and fsynced first, then
//! sled's batch (which makes them part of the log) is applied and fsynced, then
//! the header's commit flag is set (made durable by the next batch's fsync). A
//! crash between the first two leaves one uncommitted batch past the last
//! located entry; opening the store keeps a copy of it aside and cuts it off
//! (it was never acknowledged). Anything else past the end (a committed batch,
//! a batch that does not start where the log ends, more than one batch) means
//! the database is older than the file, and the store refuses to open. (A
//! power cut can leave the last batch's flag unset; the database locates that
//! batch, so opening sets the flag. What it cannot tell is that batch, flag
//! unset, beside a database restored exactly one batch behind: two faults
//! at once.) The
//! file can never be shorter than the locations say, because they are written
//! only after it is durable; if it is, the store refuses to open.
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

/// Bytes of a batch header.
pub const HEADER: u64 = 32;
const MARK: [u8; 4] = [0xff; 4];
/// Where the commit flag is in a header.
const FLAG_AT: u64 = 24;

/// What a batch header says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BatchHeader {
    pub first: u64,
    pub count: u32,
    /// Bytes of the batch's entry records, after the header.
    pub bytes: u64,
    pub committed: bool,
}

impl BatchHeader {
    pub(crate) fn parse(b: &[u8]) -> Option<BatchHeader> {
        let b = b.get(..HEADER as usize)?;
        if b[..4] != MARK || b[25..].iter().any(|&z| z != 0) || b[24] > 1 {
            return None;
        }
        Some(BatchHeader {
            first: u64::from_be_bytes(b[4..12].try_into().ok()?),
            count: u32::from_be_bytes(b[12..16].try_into().ok()?),
            bytes: u64::from_be_bytes(b[16..24].try_into().ok()?),
            committed: b[24] == 1,
        })
    }
}

/// A batch being built: its header's room, then its entry records.
pub(crate) struct BatchBytes {
    pub bytes: Vec<u8>,
    pub lengths: Vec<u32>,
}

impl BatchBytes {
    pub(crate) fn new(capacity: usize) -> BatchBytes {
        BatchBytes {
            bytes: vec![0u8; HEADER as usize],
            lengths: Vec::with_capacity(capacity),
        }
    }

    /// Appends one entry's record: its length, then its bytes.
    pub(crate) fn push(&mut self, entry: &[u8]) {
        let len = u32::try_from(entry.len()).expect("invariant: entries are far below 4 GiB");
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(entry);
        self.lengths.push(len);
    }

    /// Bytes of entry records so far.
    pub(crate) fn records_len(&self) -> u64 {
        self.bytes.len() as u64 - HEADER
    }

    /// Fills in the header for a batch whose first entry is `first`.
    pub(crate) fn seal(&mut self, first: u64) {
        let records = self.records_len();
        let h = &mut self.bytes[..HEADER as usize];
        h[..4].copy_from_slice(&MARK);
        h[4..12].copy_from_slice(&first.to_be_bytes());
        h[12..16].copy_from_slice(&(self.lengths.len() as u32).to_be_bytes());
        h[16..24].copy_from_slice(&records.to_be_bytes());
    }
}

pub(crate) struct EntriesFile {
    file: File,
    /// Where the last located entry ends: the next batch is written here.
    end: u64,
}

impl EntriesFile {
    /// Opens the file, creating it if it is missing.
    pub(crate) fn open(dir: &Path) -> io::Result<EntriesFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(FILE_NAME))?;
        Ok(EntriesFile { file, end: 0 })
    }

    pub(crate) fn len_on_disk(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Sets the end of the located entries, cutting off (durably) whatever
    /// lies beyond it: the unlocated tail of a batch a crash interrupted.
    pub(crate) fn cut_to(&mut self, end: u64) -> io::Result<()> {
        if self.len_on_disk()? > end {
            self.file.set_len(end)?;
            self.file.sync_all()?;
        }
        self.end = end;
        Ok(())
    }

    /// Writes a sealed batch after the end. The end does not move until
    /// [`advance`](Self::advance): until sled locates them they are not part
    /// of the log, and a failed batch's bytes are overwritten by the next.
    pub(crate) fn write_batch(&self, batch: &BatchBytes) -> io::Result<()> {
        self.file.write_all_at(&batch.bytes, self.end)
    }

    /// Sets the commit flag of the batch whose header is at `header`. Not
    /// fsynced here: the next batch's fsync carries it.
    pub(crate) fn mark_committed(&self, header: u64) -> io::Result<()> {
        self.file.write_all_at(&[1], header + FLAG_AT)
    }

    /// Copies the bytes from `from` to the end of the file into `to`,
    /// durably.
    pub(crate) fn copy_tail(&self, from: u64, to: &Path) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let mut src = self.file.try_clone()?;
        src.seek(SeekFrom::Start(from))?;
        let mut out = File::create(to)?;
        io::copy(&mut src, &mut out)?;
        out.sync_all()
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

    /// Where the record of the batch's `k`th entry starts. (Saturating: a
    /// damaged record then reads past the end of the file and fails there.)
    pub(crate) fn offset(&self, k: u64) -> u64 {
        (0..k).fold(self.start, |at, j| {
            at.saturating_add(PREFIX).saturating_add(self.len(j))
        })
    }

    /// Where the batch's header is.
    pub(crate) fn header(&self) -> u64 {
        self.start.saturating_sub(HEADER)
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
