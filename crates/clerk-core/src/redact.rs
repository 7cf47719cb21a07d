//! Taking credentials out of text a server supplied.
//!
//! Clerk's error bodies and some reply headers are printed by `Display` and
//! `Debug` and written to traces. A proxy, a misbehaving server or a hostile
//! one could echo a credential into them. Credentials have recognisable
//! shapes: secret keys start with `sk_test_` or `sk_live_`, and sign-in
//! tokens are JWTs, whose first part always starts with `eyJ` (base64 of
//! `{"`). Any run of token characters holding one of those shapes is
//! replaced from the start of the shape to the end of the run, which also
//! covers a URL that embeds a token. The work is linear in the text.

use std::borrow::Cow;

use serde_json::Value;

use crate::model::ClerkErrors;

/// What a credential is replaced with.
pub(crate) const REDACTED: &str = "[redacted]";

/// Characters a key, a JWT or a URL-encoded form of them is made of.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '~' | '+' | '/' | '=' | '%')
}

/// Where a credential starts in a run of token characters, if it holds one.
fn credential_start(run: &str) -> Option<usize> {
    let key = ["sk_test_", "sk_live_"]
        .iter()
        .filter_map(|p| run.find(p))
        .min();
    let jwt = run
        .match_indices("eyJ")
        .find(|(i, _)| run.get(i + 3..).is_some_and(|rest| rest.contains('.')))
        .map(|(i, _)| i);
    match (key, jwt) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The text with every credential-shaped run replaced.
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    if !text.contains("sk_") && !text.contains("eyJ") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest.find(is_token_char).unwrap_or(rest.len());
        let (plain, tail) = rest.split_at(start);
        out.push_str(plain);
        let end = tail.find(|c| !is_token_char(c)).unwrap_or(tail.len());
        let (run, after) = tail.split_at(end);
        match credential_start(run) {
            Some(at) => {
                out.push_str(run.get(..at).unwrap_or_default());
                out.push_str(REDACTED);
            }
            None => out.push_str(run),
        }
        rest = after;
    }
    Cow::Owned(out)
}

fn redact_in_place(text: &mut String) {
    if let Cow::Owned(clean) = redact(text) {
        *text = clean;
    }
}

fn redact_value(value: &mut Value) {
    match value {
        Value::String(s) => redact_in_place(s),
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(map) => {
            let dirty: Vec<String> = map
                .keys()
                .filter(|k| matches!(redact(k), Cow::Owned(_)))
                .cloned()
                .collect();
            for key in dirty {
                if let Some(v) = map.remove(&key) {
                    map.insert(redact(&key).into_owned(), v);
                }
            }
            map.values_mut().for_each(redact_value);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn redact_map(map: &mut serde_json::Map<String, Value>) {
    let mut wrapped = Value::Object(std::mem::take(map));
    redact_value(&mut wrapped);
    if let Value::Object(clean) = wrapped {
        *map = clean;
    }
}

/// Redacts every string of an error body: codes, messages, meta (keys and
/// values, at any depth) and the trace id.
pub(crate) fn redact_clerk_errors(body: &mut ClerkErrors) {
    for error in &mut body.errors {
        redact_in_place(&mut error.code);
        redact_in_place(&mut error.message);
        redact_in_place(&mut error.long_message);
        if let Some(meta) = &mut error.meta {
            redact_map(meta);
        }
    }
    if let Some(meta) = &mut body.meta {
        redact_map(meta);
    }
    if let Some(id) = &mut body.clerk_trace_id {
        redact_in_place(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_replaced() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let cases = [
            ("plain text stays".to_owned(), "plain text stays".to_owned()),
            (
                "Bearer sk_test_abcDEF123".into(),
                "Bearer [redacted]".into(),
            ),
            ("key=sk_live_xyz, ok".into(), "key=[redacted], ok".into()),
            (format!("ticket {jwt}!"), "ticket [redacted]!".into()),
            (
                format!("https://x.accounts.dev/v1/tickets/accept?ticket={jwt}&a=b"),
                "https://x.accounts.dev/v1/tickets/accept?ticket=[redacted]&a=b".into(),
            ),
            (format!("{jwt}/sk_test_a"), "[redacted]".into()),
            ("eyJ without a dot".into(), "eyJ without a dot".into()),
            ("sk_ not a key".into(), "sk_ not a key".into()),
            ("é sk_test_é".into(), "é [redacted]é".into()),
        ];
        for (input, want) in cases {
            assert_eq!(redact(&input), want, "{input}");
        }
    }

    #[test]
    fn error_bodies_are_redacted_everywhere() {
        let echo = "Bearer sk_test_K / eyJa.eyJb.c";
        let json = format!(
            r#"{{"errors":[{{"code":"{echo}","message":"{echo}","long_message":"{echo}","meta":{{"{echo}":["{echo}",{{"x":"{echo}"}}]}}}}],"meta":{{"a":"{echo}"}},"clerk_trace_id":"{echo}"}}"#
        );
        let mut body: ClerkErrors = serde_json::from_str(&json).unwrap();
        redact_clerk_errors(&mut body);
        let text = format!("{body:?} {}", serde_json::to_string(&body).unwrap());
        assert!(
            !text.contains("sk_test_K") && !text.contains("eyJ"),
            "{text}"
        );
    }
}
