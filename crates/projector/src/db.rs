//! The projector's own sled database: its copy of the log, entry by entry,
//! and the position and chain hash it has reached, written together in one
//! atomic batch.
//!
//! The projection is a pure function of the log, so the log is the state in
//! its most compact and checkable form: on start the projector folds its own
//! copy again (the rebuild the benchmark measures) and continues from the
//! position with the next entry of the log stream. There is no second format
//! (a serialised projection) to keep in step with the code, and a projector
//! upgraded to a new fold rebuilds itself by restarting.
//!
//! Nothing here is acknowledged to anyone, so no fsync is needed for
//! correctness: after a crash sled recovers a prefix of the batches, position
//! and entries agree, and the rest is read again from the stream.

use std::path::Path;

use tallylog_core::entry::{Entry, GENESIS_PREV};
use tallylog_core::merkle::Hash;
use tallylog_core::types::{ElectionId, LogIndex};

use crate::ProjectorError;

const POSITION: &[u8] = b"m/position";
const CHAIN: &[u8] = b"m/chain";
const ELECTION: &[u8] = b"m/election";

fn entry_key(index: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[..2].copy_from_slice(b"e/");
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

pub struct Db {
    db: sled::Db,
    position: u64,
    chain: Hash,
}

impl Db {
    /// Opens (or creates) the database for `election` in `dir`.
    pub fn open(dir: &Path, election: &ElectionId) -> Result<Db, ProjectorError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| ProjectorError::Db(format!("creating {}: {e}", dir.display())))?;
        let db = tallylog_store::open_sled(dir).map_err(|e| ProjectorError::Db(e.to_string()))?;
        match db.get(ELECTION)? {
            Some(e) if e != election.as_str().as_bytes() => {
                return Err(ProjectorError::Identity(format!(
                    "{} holds the projection of election {}, not {election}",
                    dir.display(),
                    String::from_utf8_lossy(&e)
                )))
            }
            Some(_) => {}
            None => {
                db.insert(ELECTION, election.as_str().as_bytes())?;
            }
        }
        let position = match db.get(POSITION)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
                ProjectorError::Db("the stored position is not 8 bytes".to_owned())
            })?),
            None => 0,
        };
        let chain = match db.get(CHAIN)? {
            Some(v) => Hash(v.as_ref().try_into().map_err(|_| {
                ProjectorError::Db("the stored chain hash is not 32 bytes".to_owned())
            })?),
            None => GENESIS_PREV,
        };
        Ok(Db {
            db,
            position,
            chain,
        })
    }

    /// How many entries are stored: the index of the next one.
    pub fn position(&self) -> u64 {
        self.position
    }
    /// The chain hash of the last stored entry.
    pub fn chain(&self) -> Hash {
        self.chain
    }

    /// Calls `f` with every stored entry's bytes, in log order.
    pub fn for_each(
        &self,
        mut f: impl FnMut(LogIndex, &[u8]) -> Result<(), ProjectorError>,
    ) -> Result<(), ProjectorError> {
        let mut expected = 0u64;
        for kv in self.db.range(entry_key(0)..entry_key(self.position)) {
            let (k, v) = kv?;
            let index = u64::from_be_bytes(
                k[2..]
                    .try_into()
                    .map_err(|_| ProjectorError::Db("an entry key is not 10 bytes".to_owned()))?,
            );
            if index != expected {
                return Err(ProjectorError::Db(format!(
                    "entry {expected} is missing from the projector's database"
                )));
            }
            f(LogIndex(index), &v)?;
            expected += 1;
        }
        if expected != self.position {
            return Err(ProjectorError::Db(format!(
                "the database says {} entries but holds {expected}",
                self.position
            )));
        }
        Ok(())
    }

    /// Stores entries that continue the log, with the new position and chain
    /// hash, in one atomic batch.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), ProjectorError> {
        let mut batch = sled::Batch::default();
        let mut position = self.position;
        let mut chain = self.chain;
        for e in entries {
            if e.index().0 != position || e.prev() != chain {
                return Err(ProjectorError::Db(format!(
                    "entry {} does not continue the stored log at {position}",
                    e.index()
                )));
            }
            batch.insert(&entry_key(position), e.bytes());
            chain = e.chain_hash();
            position += 1;
        }
        batch.insert(POSITION, &position.to_be_bytes());
        batch.insert(CHAIN, &chain.0);
        self.db.apply_batch(batch)?;
        self.position = position;
        self.chain = chain;
        Ok(())
    }

    /// A handle that reads stored entries without the lock on the database.
    pub fn reader(&self) -> Reader {
        Reader(self.db.clone())
    }

    /// Writes what sled holds in memory to disk (on shutdown).
    pub fn flush(&self) -> Result<(), ProjectorError> {
        self.db.flush()?;
        Ok(())
    }
}

/// Reads stored entries while the follower appends: an entry below the
/// position a reader has been told of is stored and never changes.
#[derive(Clone)]
pub struct Reader(sled::Db);

impl Reader {
    /// The bytes of entries `from..to`, in order; fewer if the database holds
    /// fewer.
    pub fn entries(&self, from: u64, to: u64) -> Result<Vec<(u64, sled::IVec)>, ProjectorError> {
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        for kv in self.0.range(entry_key(from)..entry_key(to)) {
            let (k, v) = kv?;
            let index = u64::from_be_bytes(
                k[2..]
                    .try_into()
                    .map_err(|_| ProjectorError::Db("an entry key is not 10 bytes".to_owned()))?,
            );
            if index != from + out.len() as u64 {
                return Err(ProjectorError::Db(format!(
                    "entry {} is missing from the database",
                    from + out.len() as u64
                )));
            }
            out.push((index, v));
        }
        Ok(out)
    }
}
