//! Small helpers with no I/O: ids, encodings, clocks and dates.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Random-looking values for ids and trace ids, without a random-number crate.
///
/// `RandomState` is seeded from the operating system's randomness; hashing a counter with it
/// gives values that differ between servers and between runs. Good enough for test ids, not
/// for anything secret.
#[derive(Debug)]
pub(crate) struct IdGen {
    state: RandomState,
    counter: AtomicU64,
}

impl IdGen {
    pub(crate) fn new() -> Self {
        Self {
            state: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }

    pub(crate) fn next_u64(&self) -> u64 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.state.hash_one(n)
    }

    /// `len` characters from `[0-9A-Za-z]`.
    pub(crate) fn base62(&self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(BASE62[(self.next_u64() % 62) as usize]))
            .collect()
    }

    /// A Clerk-style id: `prefix` + `_` + 27 base62 characters.
    pub(crate) fn clerk_id(&self, prefix: &str) -> String {
        format!("{prefix}_{}", self.base62(27))
    }

    /// 32 lowercase hexadecimal characters.
    pub(crate) fn trace_id(&self) -> String {
        let mut out = String::with_capacity(32);
        for _ in 0..2 {
            out.push_str(&format!("{:016x}", self.next_u64()));
        }
        out
    }

    /// `n` random bytes.
    pub(crate) fn bytes(&self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

/// Base64url without padding (RFC 4648 §5), as used in JWTs.
pub(crate) fn base64url(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(BASE64URL[idx as usize]));
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes one path segment. A `%` not followed by two hex digits is kept as is;
/// bytes that are not UTF-8 after decoding are replaced with U+FFFD.
pub(crate) fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push((hi << 4) | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Why a query string is not `application/x-www-form-urlencoded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryError {
    /// A `%` not followed by two hexadecimal digits.
    BadEscape,
    /// A name or value that is not UTF-8 once decoded.
    NotUtf8,
}

/// Splits a query string into its name–value pairs, decoded as
/// `application/x-www-form-urlencoded` (the WHATWG URL standard, and what Go's
/// `url.ParseQuery` does): pairs are separated by `&`, empty pairs are skipped, a pair
/// without `=` has the value `""`, `+` stands for a space and `%XX` for the byte `XX`. Unlike
/// the WHATWG parser, which keeps a stray `%` and replaces bad UTF-8, this is strict: either
/// makes the whole query an error.
pub(crate) fn parse_query(query: &str) -> Result<Vec<(String, String)>, QueryError> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((form_decode(name)?, form_decode(value)?))
        })
        .collect()
}

/// Decodes one `application/x-www-form-urlencoded` name or value, strictly.
fn form_decode(part: &str) -> Result<String, QueryError> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(QueryError::BadEscape);
                };
                out.push((hi << 4) | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| QueryError::NotUtf8)
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    system_time_ms(SystemTime::now())
}

pub(crate) fn system_time_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Formats a time as an HTTP date (RFC 9110 IMF-fixdate), e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`. Times before 1970 are clamped to the epoch.
pub(crate) fn format_http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // 1970-01-01 was a Thursday.
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS[(days % 7) as usize];
    let (year, month, day) = civil_from_days(days);
    let month_name = MONTHS[(month - 1) as usize];
    format!("{weekday}, {day:02} {month_name} {year:04} {hour:02}:{minute:02}:{second:02} GMT")
}

/// Converts days since 1970-01-01 to a (year, month 1..=12, day 1..=31) civil date
/// (H. Hinnant's algorithm, restricted to non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Removes CR and LF so that a value given by the test author cannot break the framing of a
/// response head.
pub(crate) fn header_safe(value: &str) -> String {
    value.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        let cases: [(&str, &str); 7] = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64url(input.as_bytes()), expected);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn percent_decoding_is_per_segment_and_lenient() {
        assert_eq!(percent_decode("sit%2Fx"), "sit/x");
        assert_eq!(percent_decode("a%20b%2fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
        assert_eq!(percent_decode(""), "");
    }

    #[test]
    fn queries_decode_as_form_urlencoded_and_strictly() {
        let pairs = |q: &str| parse_query(q).unwrap();
        let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        assert_eq!(pairs(""), owned(&[]));
        assert_eq!(pairs("&&"), owned(&[]));
        assert_eq!(
            pairs("a=1&a=2&b&c=&=d"),
            owned(&[("a", "1"), ("a", "2"), ("b", ""), ("c", ""), ("", "d")])
        );
        // `+` is a space; a plus sign must be sent as %2B.
        assert_eq!(
            pairs("email_address=test+1@x.com&e=test%2B1%40x.com"),
            owned(&[("email_address", "test 1@x.com"), ("e", "test+1@x.com")])
        );
        assert_eq!(pairs("a%3Db=c%26d=e"), owned(&[("a=b", "c&d=e")]));
        assert_eq!(pairs("n=%C3%A9%e2%82%AC"), owned(&[("n", "é€")]));
        assert_eq!(pairs("n=a=b"), owned(&[("n", "a=b")]));
        assert_eq!(parse_query("a=100%"), Err(QueryError::BadEscape));
        assert_eq!(parse_query("a=%zz"), Err(QueryError::BadEscape));
        assert_eq!(parse_query("a=%4"), Err(QueryError::BadEscape));
        assert_eq!(parse_query("%=1"), Err(QueryError::BadEscape));
        assert_eq!(parse_query("a=%FF"), Err(QueryError::NotUtf8));
    }

    #[test]
    fn http_dates() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(format_http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            format_http_date(UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(format_http_date(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
        let later = UNIX_EPOCH + Duration::from_secs(4_102_444_799); // 2099-12-31 23:59:59
        assert_eq!(format_http_date(later), "Thu, 31 Dec 2099 23:59:59 GMT");
    }

    #[test]
    fn ids_look_like_clerk_ids_and_differ() {
        let ids = IdGen::new();
        let a = ids.clerk_id("sit");
        let b = ids.clerk_id("sit");
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 27);
        assert!(a.starts_with("sit_"));
        assert!(a[4..].bytes().all(|c| c.is_ascii_alphanumeric()));
        let t = ids.trace_id();
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        assert_eq!(ids.bytes(5).len(), 5);
        assert_eq!(hex(&[0x0f, 0xa0]), "0fa0");
    }

    #[test]
    fn header_values_lose_line_breaks() {
        assert_eq!(header_safe("1\r\nX-Evil: yes"), "1X-Evil: yes");
    }
}
