//! The log as c2sp.org/tlog-tiles: `/checkpoint`, `/tile/L/N[.p/W]` (hash
//! tiles, height 8) and `/tile/entries/N[.p/W]` (entry bundles), so that
//! mirrors and existing tile clients can follow the log with plain GETs.
//!
//! A tile is served once the gateway's tree holds all of it. Every tile,
//! full or partial, is immutable: a partial tile of width `W` is the first
//! `W` hashes (or entries) of the full one, so all carry a year's caching.
//! An entry bundle is each entry's exact bytes (PROTOCOL.md §4) after its
//! length as two big-endian bytes; every entry fits (`MAX_ENTRY_BYTES`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tlog_tiles::tile::Tile;

use crate::limits::error;
use crate::App;

/// The tile height of c2sp.org/tlog-tiles.
pub const HEIGHT: u8 = 8;

/// Parses the part of a tile path after `tile/`: `L/N[.p/W]` or
/// `entries/N[.p/W]`, with `N` in groups of three digits (`x001/234`).
/// Only the canonical path of a tile parses. (Not `Tile::from_path`: it
/// reads Go's layout, and panics on some paths a client may send.)
pub fn parse(path: &str) -> Option<Tile> {
    if path.len() > 64 {
        return None;
    }
    let mut parts: Vec<&str> = path.split('/').collect();
    let first = parts.remove(0);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (level, data) = if first == "entries" {
        (0, true)
    } else if digits(first) && first.len() <= 2 {
        let l: u8 = first.parse().ok()?;
        (l < 64).then_some((l, false))?
    } else {
        return None;
    };
    let mut width = 1u32 << HEIGHT;
    if parts.len() >= 2 && parts[parts.len() - 2].ends_with(".p") {
        let w = parts.pop()?;
        if !digits(w) || w.len() > 3 {
            return None;
        }
        width = w.parse().ok()?;
        if !(1..(1 << HEIGHT)).contains(&width) {
            return None;
        }
        let last = parts.pop()?.strip_suffix(".p")?;
        parts.push(last);
    }
    if parts.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for (i, part) in parts.iter().enumerate() {
        let group = if i + 1 < parts.len() {
            part.strip_prefix('x')?
        } else {
            part
        };
        if group.len() != 3 || !digits(group) {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(group.parse().ok()?)?;
    }
    let t = Tile::new(HEIGHT, level, n, width, data);
    (self::path(&t) == path).then_some(t)
}

/// The c2sp path of a tile (the inverse of [`parse`], after `tile/`).
pub fn path(t: &Tile) -> String {
    let go = t.path();
    let rest = go
        .strip_prefix(&format!("tile/{HEIGHT}/"))
        .expect("invariant: tiles here have height 8");
    match rest.strip_prefix("data/") {
        Some(r) => format!("entries/{r}"),
        None => rest.to_owned(),
    }
}

/// The records (entries, for level 0) a tile needs the tree to hold.
fn needs(t: &Tile) -> Option<u64> {
    let first = t.level_index().checked_mul(1 << HEIGHT)?;
    let end = first.checked_add(u64::from(t.width()))?;
    let shift = u32::from(t.level()) * u32::from(HEIGHT);
    if shift >= 64 {
        return None;
    }
    end.checked_mul(1u64 << shift).filter(|n| n >> shift == end)
}

/// `GET /tile/…`.
pub async fn tile(State(app): State<Arc<App>>, Path(rest): Path<String>) -> Response {
    let Some(t) = parse(&rest) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_tile_path",
            "a tile path is tile/L/N[.p/W] or tile/entries/N[.p/W] (c2sp.org/tlog-tiles)",
        );
    };
    let held = app.follower.size();
    let Some(needed) = needs(&t) else {
        return missing(held);
    };
    if needed > held {
        return missing(held);
    }
    let data = if t.is_data() {
        let first = t.level_index() << HEIGHT;
        let end = first + u64::from(t.width());
        match app.follower.entries(first, end) {
            Ok(rows) if rows.len() as u64 == end - first => {
                let mut out = Vec::with_capacity(rows.iter().map(|(_, b)| b.len() + 2).sum());
                for (_, bytes) in rows {
                    let len = u16::try_from(bytes.len())
                        .expect("invariant: entries fit a two-byte length (MAX_ENTRY_BYTES)");
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(&bytes);
                }
                out
            }
            _ => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage",
                    "the gateway could not read its copy of the log",
                )
            }
        }
    } else {
        let tree = app.follower.tree();
        match t.read_data(&*tree) {
            Ok(d) => d,
            Err(_) => return missing(held),
        }
    };
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        data,
    )
        .into_response()
}

fn missing(held: u64) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no_such_tile",
        &format!("the log held here has {held} entries; that tile is not complete in it"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_c2sp_ones_and_only_canonical_ones_parse() {
        let t = parse("0/x001/234").unwrap();
        assert_eq!((t.level(), t.level_index(), t.width()), (0, 1234, 256));
        assert_eq!(path(&t), "0/x001/234");
        let p = parse("2/005.p/7").unwrap();
        assert_eq!((p.level(), p.level_index(), p.width()), (2, 5, 7));
        assert_eq!(path(&p), "2/005.p/7");
        let e = parse("entries/000.p/3").unwrap();
        assert!(e.is_data());
        assert_eq!(path(&e), "entries/000.p/3");
        for bad in [
            "0/1234",
            "0/5",
            "0/005.p/256",
            "0/005.p/0",
            "0/005.p/007",
            "0/x000/005",
            "64/000",
            "255/000",
            "data/000",
            "x/000",
            "0/../000",
            "0/x018/x446/x744/x073/x709/x551/616",
            "",
        ] {
            assert!(parse(bad).is_none(), "{bad} must not parse");
        }
    }

    #[test]
    fn a_tile_needs_the_records_under_it() {
        assert_eq!(needs(&parse("0/000").unwrap()), Some(256));
        assert_eq!(needs(&parse("0/001.p/3").unwrap()), Some(259));
        assert_eq!(needs(&parse("1/000.p/2").unwrap()), Some(512));
        assert_eq!(needs(&parse("entries/002").unwrap()), Some(768));
    }
}
