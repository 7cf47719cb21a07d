//! Where the ids come from: arguments, a file of ids, or an earlier run's
//! records. Read one line at a time, each line capped, so a run's memory
//! does not grow with its input.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// The longest input line read; a longer one is a bad line.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The longest id accepted.
pub const MAX_ID_BYTES: usize = 256;

/// One line of input that asks for a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The line number in the file, or the argument's position, from 1.
    pub line: u64,
    /// The id, or why the line is not one (with the line's text, lossily).
    pub id: Result<String, BadLine>,
}

/// A line that is not an id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// The line's text, trimmed, lossily decoded, cut to [`MAX_ID_BYTES`].
    pub text: String,
    /// Why it is not an id.
    pub reason: String,
}

/// How to turn a line into an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFormat {
    /// One id a line; blank lines and `#` comments skipped.
    Ids,
    /// A JSON Lines record of an earlier create: the id of the token it
    /// holds; records without a token (failures) are skipped.
    CreatedTokens,
}

/// The ids of a run, in order.
pub enum Source {
    /// From the command line.
    Args(std::iter::Enumerate<std::vec::IntoIter<String>>),
    /// From a file or stdin.
    Lines {
        /// The reader.
        reader: Box<dyn BufRead + Send>,
        /// How lines are read.
        format: LineFormat,
        /// The last line number read.
        line: u64,
        /// Set once reading failed: the source then ends.
        failed: Option<io::Error>,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Args(_) => f.write_str("Source::Args"),
            Self::Lines { format, line, .. } => f
                .debug_struct("Source::Lines")
                .field("format", format)
                .field("line", line)
                .finish_non_exhaustive(),
        }
    }
}

/// Opens `path` (`-` is stdin).
///
/// # Errors
/// When the file cannot be opened.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    if path == Path::new("-") {
        Ok(Box::new(BufReader::new(io::stdin())))
    } else {
        Ok(Box::new(BufReader::new(File::open(path)?)))
    }
}

impl Source {
    /// Ids given as arguments, numbered from 1.
    pub fn args(ids: Vec<String>) -> Self {
        Self::Args(ids.into_iter().enumerate())
    }

    /// Ids read from `reader` line by line.
    pub fn lines(reader: Box<dyn BufRead + Send>, format: LineFormat) -> Self {
        Self::Lines {
            reader,
            format,
            line: 0,
            failed: None,
        }
    }

    /// The read error that ended the source early, if any.
    pub fn take_error(&mut self) -> Option<io::Error> {
        match self {
            Self::Args(_) => None,
            Self::Lines { failed, .. } => failed.take(),
        }
    }
}

impl Iterator for Source {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        match self {
            Self::Args(args) => args.next().map(|(i, id)| Item {
                line: i as u64 + 1,
                id: check_id(id.as_bytes()),
            }),
            Self::Lines {
                reader,
                format,
                line,
                failed,
            } => {
                if failed.is_some() {
                    return None;
                }
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    let too_long = match read_capped_line(reader, &mut buf) {
                        Ok(Some(too_long)) => too_long,
                        Ok(None) => return None,
                        Err(e) => {
                            *failed = Some(e);
                            return None;
                        }
                    };
                    *line += 1;
                    let item = |id| Some(Item { line: *line, id });
                    if too_long {
                        return item(Err(bad(
                            &buf,
                            format!("the line is longer than {MAX_LINE_BYTES} bytes"),
                        )));
                    }
                    let text = buf.trim_ascii();
                    match format {
                        LineFormat::Ids => {
                            if text.is_empty() || text.starts_with(b"#") {
                                continue;
                            }
                            return item(check_id(text));
                        }
                        LineFormat::CreatedTokens => {
                            if text.is_empty() {
                                continue;
                            }
                            match created_token_id(text) {
                                Ok(Some(id)) => return item(check_id(id.as_bytes())),
                                Ok(None) => continue,
                                Err(reason) => return item(Err(bad(text, reason))),
                            }
                        }
                    }
                }
            }
        }
    }
}

fn bad(text: &[u8], reason: String) -> BadLine {
    let cut = &text[..text.len().min(MAX_ID_BYTES)];
    BadLine {
        text: String::from_utf8_lossy(cut).into_owned(),
        reason,
    }
}

/// An id as the operator wrote it, or why it cannot be one.
fn check_id(text: &[u8]) -> Result<String, BadLine> {
    let Ok(id) = std::str::from_utf8(text) else {
        return Err(bad(text, "the line is not UTF-8".into()));
    };
    let id = id.trim();
    if id.is_empty() {
        return Err(bad(text, "the id is empty".into()));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(bad(
            id.as_bytes(),
            format!("the id is longer than {MAX_ID_BYTES} bytes"),
        ));
    }
    if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            id.as_bytes(),
            "the line holds more than one word or a control character: one id a line".into(),
        ));
    }
    Ok(id.to_owned())
}

/// The id of the token a create record holds; `None` for a record
/// without one.
fn created_token_id(line: &[u8]) -> Result<Option<String>, String> {
    let record: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| format!("not a JSON record of an earlier run: {e}"))?;
    match record.get("token") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(token) => match token.get("id").and_then(serde_json::Value::as_str) {
            Some(id) => Ok(Some(id.to_owned())),
            None => Err("the record's token has no id".into()),
        },
    }
}

/// Reads one line (without its `\n`) into `buf`, at most
/// [`MAX_LINE_BYTES`] of it; the rest of a longer line is read and
/// dropped. `None` at the end of input, else whether the line was cut.
fn read_capped_line(reader: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<Option<bool>> {
    let mut read_any = false;
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(read_any.then_some(too_long));
        }
        read_any = true;
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        let room = MAX_LINE_BYTES.saturating_sub(buf.len());
        if chunk.len() > room {
            too_long = true;
        }
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = done.unwrap_or(available.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(Some(too_long));
        }
    }
}

/// The ids an earlier run's output says already got a token: the `id` of
/// every record that holds a `token`. Lines that are not such records are
/// ignored (a run cut short may end in half a line).
///
/// # Errors
/// When the file cannot be read.
pub fn resume_set(path: &Path) -> io::Result<HashSet<String>> {
    let mut reader = open(path)?;
    let mut done = HashSet::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_capped_line(&mut reader, &mut buf)? {
            None => return Ok(done),
            Some(true) => continue,
            Some(false) => {}
        }
        let Ok(record) = serde_json::from_slice::<serde_json::Value>(&buf) else {
            continue;
        };
        let has_token = record.get("token").is_some_and(|t| !t.is_null());
        if let (true, Some(id)) = (has_token, record.get("id").and_then(|v| v.as_str())) {
            done.insert(id.to_owned());
        }
    }
}

/// Counts the lines of a regular file, for the progress bar's total;
/// `None` for stdin or anything that cannot be read.
pub fn count_lines(path: &Path) -> Option<u64> {
    if path == Path::new("-") {
        return None;
    }
    let mut file = File::open(path).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
                last = buf[n - 1];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(lines + u64::from(last != b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &[u8], format: LineFormat) -> Vec<Item> {
        Source::lines(Box::new(io::Cursor::new(text.to_vec())), format).collect()
    }

    #[test]
    fn ids_skip_blanks_and_comments_and_report_bad_lines() {
        let got = items(
            b"user_1\n\n  # a comment\n user_2 \r\nuser 3\n\xff\nuser_4",
            LineFormat::Ids,
        );
        let lines: Vec<(u64, bool)> = got.iter().map(|i| (i.line, i.id.is_ok())).collect();
        assert_eq!(
            lines,
            [(1, true), (4, true), (5, false), (6, false), (7, true)]
        );
        assert_eq!(got[1].id.as_deref().ok(), Some("user_2"));
        assert_eq!(got[4].id.as_deref().ok(), Some("user_4"));
        assert!(
            got[2]
                .id
                .as_ref()
                .unwrap_err()
                .reason
                .contains("one id a line")
        );
    }

    #[test]
    fn a_line_too_long_is_one_bad_line_and_reading_goes_on() {
        let mut text = vec![b'a'; MAX_LINE_BYTES * 3];
        text.extend_from_slice(b"\nuser_2\n");
        let got = items(&text, LineFormat::Ids);
        assert_eq!(got.len(), 2);
        assert!(got[0].id.as_ref().unwrap_err().text.len() <= MAX_ID_BYTES);
        assert_eq!(
            (got[1].line, got[1].id.as_deref().ok()),
            (2, Some("user_2"))
        );
    }

    #[test]
    fn created_tokens_are_read_from_records() {
        let text = br#"{"line":1,"id":"user_1","token":{"id":"sit_1"}}
{"line":2,"id":"user_2","error":{"kind":"api"}}
not json
{"line":4,"id":"user_4","token":{"id":"sit_4"}}"#;
        let got = items(text, LineFormat::CreatedTokens);
        let ids: Vec<_> = got.iter().map(|i| (i.line, i.id.is_ok())).collect();
        assert_eq!(ids, [(1, true), (3, false), (4, true)]);
        assert_eq!(got[2].id.as_deref().ok(), Some("sit_4"));
    }

    #[test]
    fn lines_are_counted() {
        let dir = std::env::temp_dir().join(format!("clerk-sit-count-{}", std::process::id()));
        std::fs::write(&dir, b"a\nb\nc").unwrap();
        assert_eq!(count_lines(&dir), Some(3));
        std::fs::write(&dir, b"a\nb\n").unwrap();
        assert_eq!(count_lines(&dir), Some(2));
        let _ = std::fs::remove_file(&dir);
    }
}
