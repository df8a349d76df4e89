//! Result forms from a spreadsheet export (CSV), for observers who keep their
//! copies of the 1102 forms in a spreadsheet.
//!
//! The first row names the columns: `station`, `contest`, `registered`, `cast`,
//! `valid`, `invalid`, optionally `image_sha256`, and then one column per party,
//! headed by the party's id; a party's cell is its vote count. Fields may be
//! quoted as spreadsheets do (`"…"`, with `""` for a quote). Blank lines are
//! skipped. Every problem names its line and column.

use std::collections::BTreeMap;

use crate::event::ResultForm;
use crate::types::PartyId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ImportError {
    pub line: usize,
    pub message: String,
}

const FIXED: [&str; 6] = [
    "station",
    "contest",
    "registered",
    "cast",
    "valid",
    "invalid",
];

/// Parses the CSV text into result forms, in row order.
pub fn csv_forms(text: &str) -> Result<Vec<ResultForm>, ImportError> {
    let mut rows = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let (hline, header) = rows.next().ok_or(ImportError {
        line: 1,
        message: "the file is empty; expected a header row".to_owned(),
    })?;
    let header = split(header).map_err(|m| ImportError {
        line: hline,
        message: m,
    })?;
    let err = |line: usize, message: String| ImportError { line, message };
    for (i, want) in FIXED.iter().enumerate() {
        if header.get(i).map(|h| h.trim()) != Some(*want) {
            return Err(err(
                hline,
                format!(
                    "column {} must be {want:?}; the header must start with {}",
                    i + 1,
                    FIXED.join(",")
                ),
            ));
        }
    }
    let mut col = FIXED.len();
    let image_col = (header.get(col).map(|h| h.trim()) == Some("image_sha256")).then(|| {
        col += 1;
        col - 1
    });
    let mut parties: Vec<(usize, PartyId)> = Vec::new();
    for (i, h) in header.iter().enumerate().skip(col) {
        let p: PartyId = h
            .trim()
            .parse()
            .map_err(|e| err(hline, format!("column {}: {e}", i + 1)))?;
        if parties.iter().any(|(_, q)| *q == p) {
            return Err(err(hline, format!("party {p} has two columns")));
        }
        parties.push((i, p));
    }
    if parties.is_empty() {
        return Err(err(
            hline,
            "no party columns after the fixed ones".to_owned(),
        ));
    }
    let mut out = Vec::new();
    for (line, row) in rows {
        let cells = split(row).map_err(|m| err(line, m))?;
        if cells.len() != header.len() {
            return Err(err(
                line,
                format!(
                    "{} fields, but the header has {}",
                    cells.len(),
                    header.len()
                ),
            ));
        }
        let cell = |i: usize| cells[i].trim();
        let num = |i: usize| -> Result<u64, ImportError> {
            let v = cell(i);
            v.parse::<u64>()
                .ok()
                .filter(|n| {
                    *n <= crate::json::MAX_SAFE_INTEGER && !(v.len() > 1 && v.starts_with('0'))
                })
                .ok_or_else(|| {
                    err(
                        line,
                        format!(
                            "column {} ({}): {v:?} is not a count",
                            i + 1,
                            header[i].trim()
                        ),
                    )
                })
        };
        let votes: BTreeMap<PartyId, u64> = parties
            .iter()
            .map(|(i, p)| Ok((p.clone(), num(*i)?)))
            .collect::<Result<_, ImportError>>()?;
        let image_sha256 = match image_col.map(cell) {
            None | Some("") => None,
            Some(v) => Some(
                v.parse()
                    .map_err(|e| err(line, format!("image_sha256: {e}")))?,
            ),
        };
        out.push(ResultForm {
            station: cell(0)
                .parse()
                .map_err(|e| err(line, format!("station: {e}")))?,
            contest: cell(1)
                .parse()
                .map_err(|e| err(line, format!("contest: {e}")))?,
            registered: num(2)?,
            cast: num(3)?,
            valid: num(4)?,
            invalid: num(5)?,
            votes,
            image_sha256,
        });
    }
    Ok(out)
}

/// Splits one CSV record (no embedded newlines: a form's fields have none).
fn split(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            (false, '"') => return Err("a quote in the middle of an unquoted field".to_owned()),
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".to_owned());
    }
    out.push(cur);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spreadsheet_export_becomes_forms() {
        let text = "station,contest,registered,cast,valid,invalid,image_sha256,CPP,CRP\r\n\
                    12/03/04/0042,na,600,480,470,10,,300,170\r\n\
                    \r\n\
                    \"12/03/04/0043\",na,550,\"400\",390,10,ab"
            .to_owned()
            + &"ab".repeat(31)
            + ",200,190\n";
        let forms = csv_forms(&text).unwrap();
        assert_eq!(forms.len(), 2);
        assert_eq!(forms[0].votes[&"CRP".parse().unwrap()], 170);
        assert_eq!(forms[0].image_sha256, None);
        assert_eq!(forms[1].cast, 400);
        assert!(forms[1].image_sha256.is_some());
    }

    #[test]
    fn problems_name_their_line() {
        let head = "station,contest,registered,cast,valid,invalid,CPP\n";
        for (body, line, says) in [
            ("12/03/04/0042,na,600,480,470,10\n", 2, "6 fields"),
            ("12/03/04/0042,na,600,-1,470,10,5\n", 2, "not a count"),
            ("12/03/04/0042,na,600,480,470,10,1.5\n", 2, "not a count"),
            ("12/03/04,na,600,480,470,10,5\n", 2, "station"),
            ("\n12/03/04/0042,na,600,480,470,10,\"5\n", 3, "not closed"),
        ] {
            let e = csv_forms(&format!("{head}{body}")).unwrap_err();
            assert_eq!(e.line, line, "{body}");
            assert!(e.message.contains(says), "{e}");
        }
        assert!(csv_forms("station,contest\n")
            .unwrap_err()
            .message
            .contains("registered"));
        assert!(csv_forms("").is_err());
    }
}
