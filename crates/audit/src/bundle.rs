//! The audit bundle: a whole log in one streamable file, for auditors who
//! take it away and check it offline (docs/PROTOCOL.md §14).
//!
//! JSON lines (UTF-8, each line ending in LF): a header naming the format,
//! the election, the log's origin and size; then every entry's canonical
//! bytes, one per line, in index order; and after the entry that completes a
//! checkpoint's tree, that checkpoint, as `{"checkpoint":"<signed note>"}`.
//! An auditor reads it once, front to back, in bounded memory per line.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use tallylog_core::checkpoint::MAX_CHECKPOINT_BYTES;
use tallylog_core::event::MAX_EVENT_BYTES;
use tallylog_core::types::{ElectionId, Origin};

pub const FORMAT: &str = "tallylog/bundle/v1";

/// The longest line a bundle may hold: an entry is its event plus about a
/// hundred bytes; a checkpoint line is a JSON-escaped note.
const MAX_LINE: usize = 2 * MAX_EVENT_BYTES + 8 * MAX_CHECKPOINT_BYTES;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub bundle: String,
    pub election: ElectionId,
    pub origin: Origin,
    /// Entries in the bundle.
    pub size: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointLine {
    checkpoint: String,
}

/// One line after the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// An entry's bytes, to be decoded strictly by the auditor.
    Entry(Vec<u8>),
    /// A signed checkpoint note.
    Checkpoint(Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    #[error("reading the bundle: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {what}")]
    Format { line: u64, what: String },
}

pub struct Reader<R> {
    r: R,
    line: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> Reader<R> {
    /// Reads and checks the header.
    pub fn open(r: R) -> Result<(Header, Reader<R>), BundleError> {
        let mut reader = Reader {
            r,
            line: 0,
            buf: Vec::new(),
        };
        let first = reader.next_line()?.ok_or(BundleError::Format {
            line: 1,
            what: "the bundle is empty".to_owned(),
        })?;
        let header: Header = serde_json::from_slice(&first).map_err(|e| BundleError::Format {
            line: 1,
            what: format!("not a bundle header: {e}"),
        })?;
        if header.bundle != FORMAT {
            return Err(BundleError::Format {
                line: 1,
                what: format!("format {:?} is not {FORMAT:?}", header.bundle),
            });
        }
        Ok((header, reader))
    }

    /// The line number of the item last returned.
    pub fn line(&self) -> u64 {
        self.line
    }

    fn next_line(&mut self) -> Result<Option<Vec<u8>>, BundleError> {
        self.buf.clear();
        let mut limited = <&mut R as std::io::Read>::take(&mut self.r, MAX_LINE as u64 + 1);
        let n = limited.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if !self.buf.ends_with(b"\n") {
            return Err(BundleError::Format {
                line: self.line,
                what: if n > MAX_LINE {
                    format!("the line is longer than {MAX_LINE} bytes")
                } else {
                    "the last line is cut off (no newline): the bundle is truncated".to_owned()
                },
            });
        }
        self.buf.pop();
        Ok(Some(std::mem::take(&mut self.buf)))
    }

    /// The next item, or `None` at the end.
    pub fn next_item(&mut self) -> Result<Option<Item>, BundleError> {
        let Some(line) = self.next_line()? else {
            return Ok(None);
        };
        if line.starts_with(b"{\"checkpoint\":") {
            let c: CheckpointLine =
                serde_json::from_slice(&line).map_err(|e| BundleError::Format {
                    line: self.line,
                    what: format!("not a checkpoint line: {e}"),
                })?;
            return Ok(Some(Item::Checkpoint(c.checkpoint.into_bytes())));
        }
        Ok(Some(Item::Entry(line)))
    }
}

/// Writes a bundle: the header, then entries and checkpoints in order.
pub struct Writer<W> {
    w: W,
}

impl<W: Write> Writer<W> {
    pub fn new(mut w: W, header: &Header) -> std::io::Result<Writer<W>> {
        serde_json::to_writer(&mut w, header)?;
        w.write_all(b"\n")?;
        Ok(Writer { w })
    }
    pub fn entry(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)?;
        self.w.write_all(b"\n")
    }
    pub fn checkpoint(&mut self, note: &[u8]) -> std::io::Result<()> {
        let line = CheckpointLine {
            checkpoint: String::from_utf8_lossy(note).into_owned(),
        };
        serde_json::to_writer(&mut self.w, &line)?;
        self.w.write_all(b"\n")
    }
    pub fn finish(mut self) -> std::io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}
