//! Where the work comes from: arguments, a file of ids, or an earlier
//! run's records; and what an earlier run's records show done.
//!
//! Every input is opened once and read once, line by line, each line
//! capped: a FIFO, a pipe or a process substitution works like a file.
//! Nothing here copies an input line into a message: it may hold a ticket.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

/// The longest input line read; a longer one is a bad line.
const MAX_LINE_BYTES: usize = 64 * 1024;
const MAX_ID_BYTES: usize = 256;
/// RFC 5321's path limit.
const MAX_EMAIL_BYTES: usize = 320;

/// How to turn a line into work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineFormat {
    /// Ids with this prefix (`user_`, `sit_`); blank lines and `#`
    /// comments skipped, as with `Emails`.
    Ids(&'static str),
    Emails,
    /// An earlier create's records: the token id each one holds.
    CreatedTokens,
}

pub(crate) struct Source {
    reader: Box<dyn BufRead + Send>,
    format: LineFormat,
}

/// Opens `path` once (`-` is stdin).
pub(crate) fn reader(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    Ok(if path == Path::new("-") {
        Box::new(BufReader::new(io::stdin()))
    } else {
        Box::new(BufReader::new(File::open(path)?))
    })
}

impl Source {
    pub(crate) fn open(path: &Path, format: LineFormat) -> io::Result<Self> {
        let reader = reader(path)?;
        Ok(Self { reader, format })
    }

    /// Ids given as arguments, numbered by position.
    pub(crate) fn args(ids: &[String], format: LineFormat) -> Self {
        // One argument a line; a newline inside one makes it a bad line.
        let text: Vec<String> = ids.iter().map(|id| id.replace('\n', "\0")).collect();
        let reader = Box::new(io::Cursor::new(text.join("\n")));
        Self { reader, format }
    }

    /// The number of items in `path` when counting costs no input: only a
    /// regular file is counted, by a second read of its own. A pipe, a
    /// FIFO or stdin is read once, by the run: `None`.
    pub(crate) fn count(path: &Path, format: LineFormat) -> Option<u64> {
        if path == Path::new("-") || !std::fs::metadata(path).ok()?.is_file() {
            return None;
        }
        let mut n = 0;
        Self::open(path, format).ok()?.read(|_, _| {
            n += 1;
            true
        });
        Some(n)
    }

    /// Hands `each` the work in order, until it returns `false`: the line
    /// number (or the argument's position) from 1, and the id or why the
    /// line holds none (never the line's text). The read error that ended
    /// the input early, if one did.
    pub(crate) fn read(
        mut self,
        mut each: impl FnMut(u64, Result<String, String>) -> bool,
    ) -> Option<io::Error> {
        let (mut buf, mut line) = (Vec::new(), 0);
        loop {
            match read_capped_line(&mut self.reader, &mut buf) {
                Ok(Some(_)) => line += 1,
                Ok(None) => return None,
                Err(e) => return Some(e),
            }
            let text = buf.trim_ascii();
            let ids = match self.format {
                _ if buf.len() > MAX_LINE_BYTES => vec![Err(format!(
                    "the line is longer than {MAX_LINE_BYTES} bytes"
                ))],
                // A line may hold two records: see `read_records`.
                LineFormat::CreatedTokens => read_records(text)
                    .into_iter()
                    .filter_map(Prior::into_revoke)
                    .collect(),
                _ if text.is_empty() || text.starts_with(b"#") => continue,
                LineFormat::Ids(prefix) => vec![check_id(text, prefix)],
                LineFormat::Emails => vec![check_email(text)],
            };
            if !ids.into_iter().all(|id| each(line, id)) {
                return None;
            }
        }
    }
}

/// An id as the operator wrote it (`prefix`, then letters, digits, `_`
/// and `-`), or why the text is not one. The reason never quotes the text:
/// a ticket or a URL is never an id, and never echoed.
pub(crate) fn check_id(text: &[u8], prefix: &str) -> Result<String, String> {
    let ok = text.len() > prefix.len()
        && text.len() <= MAX_ID_BYTES
        && text.starts_with(prefix.as_bytes())
        && text
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
    if ok {
        Ok(String::from_utf8_lossy(text).into_owned())
    } else {
        Err(format!(
            "not a {prefix}… id (letters, digits, `_`, `-`; at most {MAX_ID_BYTES} bytes; one a line)"
        ))
    }
}

/// An email address as the operator wrote it (one `@`, no spaces or
/// control characters), or why the text is not one, never quoting it.
pub(crate) fn check_email(text: &[u8]) -> Result<String, String> {
    match std::str::from_utf8(text) {
        Ok(address)
            if address.len() <= MAX_EMAIL_BYTES
                && address.matches('@').count() == 1
                && !address.starts_with('@')
                && !address.ends_with('@')
                && !address.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(address.to_owned())
        }
        _ => Err(format!(
            "not an email address (one `@`, no spaces, at most {MAX_EMAIL_BYTES} bytes; one a line)"
        )),
    }
}

/// What one line of an earlier run's output says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Prior {
    /// A blank line, or the record of a failure: nothing was minted or
    /// settled.
    Nothing,
    /// The input is done: it got a token (`token_id`) or was settled.
    /// `keys`: the address (lowercased) and the id, those present.
    Done {
        keys: Vec<String>,
        token_id: Option<String>,
    },
    /// A record cut short before it says what became of its input: a
    /// token may have been minted. `keys` as far as they were written.
    Unknown {
        keys: Vec<String>,
    },
    NotARecord,
}

impl Prior {
    /// The token id `revoke --from` revokes, or why the record gives none;
    /// `None` for what needs no call (a settled record holds no token).
    fn into_revoke(self) -> Option<Result<String, String>> {
        match self {
            Self::Nothing | Self::Done { token_id: None, .. } => None,
            Self::Done {
                token_id: Some(id), ..
            } => Some(check_id(id.as_bytes(), "sit_")),
            Self::Unknown { .. } => {
                Some(Err("the record was cut short before its token's id".into()))
            }
            Self::NotARecord => Some(Err("not a record of an earlier run".into())),
        }
    }
}

/// Reads one line of an earlier run's output: usually one record; a
/// record cut short with the next one appended to it (as appending after a
/// torn line makes them) is read as the two records it holds. A raw
/// `{"line":` can only start a record: inside a string its quotes are
/// escaped.
pub(crate) fn read_records(text: &[u8]) -> Vec<Prior> {
    const START: &[u8] = b"{\"line\":";
    let whole = serde_json::from_slice::<Value>(text).is_ok();
    let starts = (1..text.len()).filter(|&i| !whole && text[i..].starts_with(START));
    let cuts: Vec<usize> = [0].into_iter().chain(starts).chain([text.len()]).collect();
    cuts.windows(2)
        .map(|w| read_record(&text[w[0]..w[1]]))
        .collect()
}

/// Reads one record of an earlier run's output. A record cut short (a run
/// killed mid-write, a full disk) is read as far as it goes: it is closed
/// at its last complete field, so a torn record whose token id was written
/// still counts as minted.
pub(crate) fn read_record(text: &[u8]) -> Prior {
    if text.trim_ascii().is_empty() {
        return Prior::Nothing;
    }
    let (record, torn) = match serde_json::from_slice::<Value>(text) {
        Ok(record) => (record, false),
        Err(_) => match close_torn(text) {
            Some(record) => (record, true),
            None => return Prior::NotARecord,
        },
    };
    let Some(fields) = record.as_object() else {
        return Prior::NotARecord;
    };
    let text = |name| fields.get(name).and_then(Value::as_str);
    let email = text("email").map(str::to_lowercase);
    let keys: Vec<String> = email
        .into_iter()
        .chain(text("id").map(str::to_owned))
        .collect();
    let token = fields.get("token");
    let token_id = token.and_then(|t| t.get("id")).and_then(Value::as_str);
    let present = |name| fields.get(name).is_some_and(|v| !v.is_null());
    match (token_id, present("settled")) {
        (None, false) if present("error") => Prior::Nothing,
        (None, false) if torn || token.is_some() => Prior::Unknown { keys },
        (None, false) => Prior::NotARecord,
        _ if keys.is_empty() => Prior::Unknown { keys },
        _ => Prior::Done {
            keys,
            token_id: token_id.map(str::to_owned),
        },
    }
}

/// A torn JSON record closed at its last complete field: the whole text
/// or its text up to one of its last commas, with `}` or `}}` added. A
/// comma inside a string cannot give valid JSON (the string would be left
/// open), so whatever parses is what was written.
fn close_torn(text: &[u8]) -> Option<Value> {
    let commas = text.iter().enumerate().rev().filter(|(_, b)| **b == b',');
    let cuts = std::iter::once(text.len()).chain(commas.map(|(i, _)| i).take(32));
    let closes: [&[u8]; 2] = [b"}", b"}}"];
    cuts.flat_map(|cut| closes.map(|close| [&text[..cut], close].concat()))
        .find_map(|candidate| serde_json::from_slice(&candidate).ok())
}

#[derive(Debug, Default)]
pub(crate) struct Resume {
    done: HashSet<String>,
}

impl Resume {
    /// Whether `key` (an id, or an address in any case) is done.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.done.contains(key) || self.done.contains(&key.to_lowercase())
    }

    /// Reads the records of `reader`; whether its last line was cut short.
    /// `notes` get line numbers and token ids, never a line's text. A
    /// record cut short before it says what became of its input counts as
    /// done, so that no one gets a second token, and its note says so.
    pub(crate) fn read(
        &mut self,
        mut reader: impl BufRead,
        name: &str,
        notes: &mut dyn FnMut(String),
    ) -> io::Result<bool> {
        let (mut buf, mut line, mut torn_tail) = (Vec::new(), 0, false);
        while let Some(newline) = read_capped_line(&mut reader, &mut buf)? {
            line += 1;
            torn_tail = !newline;
            let torn = serde_json::from_slice::<Value>(&buf).is_err();
            let priors = if buf.len() > MAX_LINE_BYTES {
                vec![Prior::NotARecord]
            } else {
                read_records(&buf)
            };
            for prior in priors {
                let keys = match prior {
                    Prior::Done { keys, token_id } => {
                        if torn {
                            let token = token_id
                                .and_then(|id| check_id(id.as_bytes(), "sit_").ok())
                                .map_or_else(|| "revoke".into(), |id| format!("token {id}"));
                            notes(format!(
                                "{name} line {line}: cut short; its {token} counts as done"
                            ));
                        }
                        keys
                    }
                    Prior::Unknown { keys } if !keys.is_empty() => {
                        notes(format!(
                            "{name} line {line}: cut short before it says whether a token was minted; that input is not called again: check it by hand"
                        ));
                        keys
                    }
                    Prior::Unknown { .. } | Prior::NotARecord => {
                        notes(format!("{name} line {line}: not a whole record: ignored"));
                        continue;
                    }
                    Prior::Nothing => continue,
                };
                self.done.extend(keys);
            }
        }
        Ok(torn_tail)
    }
}

/// Reads one line (without its `\n`) into `buf`; whether it ended in
/// `\n` (else the input ended first), `None` at the end of input. Of a line
/// longer than [`MAX_LINE_BYTES`], one byte more is kept and the rest is
/// read and dropped.
fn read_capped_line(reader: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<Option<bool>> {
    buf.clear();
    let cap = MAX_LINE_BYTES as u64 + 1;
    if io::Read::take(&mut *reader, cap).read_until(b'\n', buf)? == 0 {
        return Ok(None);
    }
    let mut newline = buf.pop_if(|b| *b == b'\n').is_some();
    let mut rest = Vec::new();
    while !newline && buf.len() > MAX_LINE_BYTES {
        rest.clear();
        if io::Read::take(&mut *reader, cap).read_until(b'\n', &mut rest)? == 0 {
            break;
        }
        newline = rest.ends_with(b"\n");
    }
    Ok(Some(newline))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item {
        line: u64,
        id: Result<String, String>,
    }

    fn items(text: &[u8], format: LineFormat) -> Vec<Item> {
        let mut items = Vec::new();
        let reader = Box::new(io::Cursor::new(text.to_vec()));
        let source = Source { reader, format };
        source.read(|line, id| {
            items.push(Item { line, id });
            true
        });
        items
    }

    #[test]
    fn ids_skip_blanks_and_comments_and_never_echo_a_bad_line() {
        let got = items(
            b"user_1\n\n  # a comment\n user_2 \r\nuser 3\n\xff\neyJhbGciOiJIUzI1NiJ9.eyJ9.sig\nuser_4",
            LineFormat::Ids("user_"),
        );
        let lines: Vec<(u64, bool)> = got.iter().map(|i| (i.line, i.id.is_ok())).collect();
        assert_eq!(
            lines,
            [
                (1, true),
                (4, true),
                (5, false),
                (6, false),
                (7, false),
                (8, true)
            ]
        );
        assert_eq!(got[1].id.as_deref().ok(), Some("user_2"));
        for bad in got.iter().filter_map(|i| i.id.as_ref().err()) {
            assert!(!bad.contains("eyJ") && !bad.contains("user 3"), "{bad}");
        }
        assert!(check_id(b"sit_1", "user_").is_err(), "the kind's prefix");
        assert!(check_id(b"sit_", "sit_").is_err());
    }

    #[test]
    fn a_line_too_long_is_one_bad_line_and_reading_goes_on() {
        let mut text = vec![b'a'; MAX_LINE_BYTES * 3];
        text.extend_from_slice(b"\nuser_2\n");
        let got = items(&text, LineFormat::Ids("user_"));
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[1].line, got[1].id.as_deref().ok()),
            (2, Some("user_2"))
        );
    }

    const WHOLE: &str = r#"{"line":1,"id":"user_1","token":{"object":"sign_in_token","id":"sit_1","status":"pending","user_id":"user_1","token":"eyJ.a,b.c","url":"https://x/?t=eyJ"}}"#;

    #[test]
    fn a_record_cut_anywhere_tells_what_it_can() {
        let done = |id: &str| Prior::Done {
            keys: vec!["user_1".into()],
            token_id: Some(id.into()),
        };
        assert_eq!(read_record(WHOLE.as_bytes()), done("sit_1"));
        let mut seen_done = false;
        for cut in 1..WHOLE.len() {
            let prior = read_record(&WHOLE.as_bytes()[..cut]);
            let at = &WHOLE[..cut];
            if at.contains(r#""id":"sit_1""#) {
                assert_eq!(prior, done("sit_1"), "{at}");
                seen_done = true;
            } else if at.contains(r#""id":"user_1","#) {
                assert_eq!(
                    prior,
                    Prior::Unknown {
                        keys: vec!["user_1".into()]
                    },
                    "{at}"
                );
            } else {
                assert!(
                    matches!(prior, Prior::Unknown { .. } | Prior::NotARecord),
                    "{at}"
                );
            }
        }
        assert!(seen_done);
        assert_eq!(
            read_record(br#"{"line":2,"id":"user_2","error":{"kind":"api"}}"#),
            Prior::Nothing
        );
        assert_eq!(read_record(b"not json"), Prior::NotARecord);
    }

    #[test]
    fn a_record_glued_to_a_torn_one_is_read_as_both() {
        let second = WHOLE.replace("sit_1", "sit_2").replace("user_1", "user_2");
        let glued = format!("{}{second}", &WHOLE[..WHOLE.len() - 30]);
        let got = items(glued.as_bytes(), LineFormat::CreatedTokens);
        let ids: Vec<_> = got.iter().map(|i| (i.line, i.id.clone())).collect();
        assert_eq!(ids, [(1, Ok("sit_1".into())), (1, Ok("sit_2".into()))]);
        let mut resume = Resume::default();
        let mut notes = Vec::new();
        let torn = resume
            .read(io::Cursor::new(glued), "f", &mut |n| notes.push(n))
            .unwrap();
        assert!(resume.contains("user_1") && resume.contains("user_2"));
        assert!(torn);
        assert!(notes.iter().all(|n| !n.contains("eyJ")), "{notes:?}");
    }
}
