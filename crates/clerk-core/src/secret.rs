//! Strings that are credentials: kept whole, never printed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A string that is a credential: a sign-in token or a URL that embeds one.
///
/// Its `Debug` prints `"[redacted]"` and it has no `Display`, so it cannot end
/// up in a log line by accident. Read the value deliberately with
/// [`expose`](Self::expose). It serializes to, and deserializes from, a plain
/// JSON string, so a model holding it round-trips unchanged.
///
/// ```
/// use clerk_core::SecretString;
///
/// let ticket = SecretString::new("eyJhbGciOi.payload.signature");
/// assert_eq!(format!("{ticket:?}"), "[redacted]");
/// assert_eq!(ticket.expose(), "eyJhbGciOi.payload.signature");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself. Every read of it is visible in the code that does it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Unwraps the credential.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}
