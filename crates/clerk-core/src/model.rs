//! The objects Clerk returns: sign-in tokens and error bodies.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::secret::SecretString;

/// A point in time as Clerk writes it: milliseconds since the Unix epoch.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use clerk_core::Timestamp;
///
/// let t = Timestamp::from_millis(1_638_000_669_544);
/// assert_eq!(t.to_system_time(), Some(UNIX_EPOCH + Duration::from_millis(1_638_000_669_544)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// A timestamp from milliseconds since the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch, as Clerk sent them.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The same instant as a [`SystemTime`], or `None` where the platform's
    /// `SystemTime` cannot represent it.
    pub fn to_system_time(self) -> Option<SystemTime> {
        let magnitude = Duration::from_millis(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH.checked_add(magnitude)
        } else {
            UNIX_EPOCH.checked_sub(magnitude)
        }
    }
}

/// Where a sign-in token is in its life.
///
/// Open: a status Clerk adds later is kept in [`Other`](Self::Other) rather
/// than failing the decode.
///
/// ```
/// use clerk_core::SignInTokenStatus;
///
/// let s: SignInTokenStatus = serde_json::from_str(r#""expired""#).unwrap();
/// assert_eq!(s, SignInTokenStatus::Other("expired".into()));
/// assert_eq!(s.as_str(), "expired");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignInTokenStatus {
    /// Created and usable once.
    Pending,
    /// Used to sign in.
    Accepted,
    /// Revoked before use.
    Revoked,
    /// A status this version of the crate does not know, exactly as sent.
    Other(String),
}

impl SignInTokenStatus {
    /// The status as Clerk spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Other(other) => other,
        }
    }

    /// The status for a spelling: a known variant where there is one.
    pub fn from_name(name: &str) -> Self {
        match name {
            "pending" => Self::Pending,
            "accepted" => Self::Accepted,
            "revoked" => Self::Revoked,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for SignInTokenStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SignInTokenStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SignInTokenStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;
        impl Visitor<'_> for StatusVisitor {
            type Value = SignInTokenStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sign-in token status string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(SignInTokenStatus::from_name(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(match v.as_str() {
                    "pending" => SignInTokenStatus::Pending,
                    "accepted" => SignInTokenStatus::Accepted,
                    "revoked" => SignInTokenStatus::Revoked,
                    _ => SignInTokenStatus::Other(v),
                })
            }
        }
        deserializer.deserialize_str(StatusVisitor)
    }
}

/// The value of a SignInToken's `object` field.
const SIGN_IN_TOKEN_OBJECT: &str = "sign_in_token";

/// The names a decode error about a SignInToken may quote and keep: its
/// field names and its tag.
pub(crate) const SIGN_IN_TOKEN_FIELDS: &[&str] = &[
    "object",
    "id",
    "status",
    "user_id",
    "token",
    "url",
    "created_at",
    "updated_at",
    SIGN_IN_TOKEN_OBJECT,
];

/// A sign-in token: a one-time credential with which a user signs in.
///
/// Decoding ignores fields Clerk adds later and keeps status values it
/// invents later. It requires `object` to be `"sign_in_token"`, so a reply
/// holding some other Clerk object is refused rather than misread.
///
/// The [`token`](Self::token) and [`url`](Self::url) are credentials: they
/// print as `[redacted]` in `Debug`.
///
/// ```
/// use clerk_core::{SignInToken, SignInTokenStatus};
///
/// let json = r#"{"object":"sign_in_token","id":"sit_26Ed5ZqqJcOjRwecRQij2ZovDdG",
///   "status":"pending","user_id":"user_26Ect5GuCCeaFWwSDiiKcgAGtVk",
///   "token":"eyJ.eyJ.sig","url":"https://example.accounts.dev/v1/tickets/accept?ticket=eyJ.eyJ.sig",
///   "created_at":1638000669544,"updated_at":1638000669544}"#;
/// let token: SignInToken = serde_json::from_str(json).unwrap();
/// assert_eq!(token.status, SignInTokenStatus::Pending);
/// assert_eq!(token.token.as_ref().map(|t| t.expose()), Some("eyJ.eyJ.sig"));
/// assert!(!format!("{token:?}").contains("eyJ"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SignInTokenWire", into = "SignInTokenWire")]
#[non_exhaustive]
pub struct SignInToken {
    /// The token's id, such as `sit_26Ed5ZqqJcOjRwecRQij2ZovDdG`.
    pub id: String,
    /// Where the token is in its life.
    pub status: SignInTokenStatus,
    /// The user who can sign in with it.
    pub user_id: String,
    /// The ticket itself, consumed on the frontend with the `ticket`
    /// strategy. Absent on some replies (revoke's).
    pub token: Option<SecretString>,
    /// A URL that embeds the ticket; absent or `null` on some replies.
    pub url: Option<SecretString>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// The wire form: what Clerk sends, field for field.
#[derive(Serialize, Deserialize)]
struct SignInTokenWire {
    object: ObjectTag<SignInTokenObject>,
    id: String,
    status: SignInTokenStatus,
    user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<SecretString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<SecretString>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// Names the `object` tag one Clerk object carries.
pub(crate) trait ObjectName {
    /// The tag's value, such as `sign_in_token`.
    const NAME: &'static str;
}

/// The `object` field of a Clerk object: only the value its [`ObjectName`]
/// names decodes, so a reply holding another Clerk object fails where that
/// field is.
pub(crate) struct ObjectTag<N>(std::marker::PhantomData<N>);

impl<N> ObjectTag<N> {
    pub(crate) const fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<N> Clone for ObjectTag<N> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<N> Copy for ObjectTag<N> {}

impl<N: ObjectName> Serialize for ObjectTag<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(N::NAME)
    }
}

impl<'de, N: ObjectName> Deserialize<'de> for ObjectTag<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagVisitor<N>(std::marker::PhantomData<N>);
        impl<N: ObjectName> Visitor<'_> for TagVisitor<N> {
            type Value = ObjectTag<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "the string `{}`", N::NAME)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ObjectTag<N>, E> {
                if v == N::NAME {
                    Ok(ObjectTag::new())
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
        }
        deserializer.deserialize_str(TagVisitor(std::marker::PhantomData))
    }
}

/// The tag of a SignInToken.
pub(crate) struct SignInTokenObject;

impl ObjectName for SignInTokenObject {
    const NAME: &'static str = SIGN_IN_TOKEN_OBJECT;
}

impl From<SignInTokenWire> for SignInToken {
    fn from(wire: SignInTokenWire) -> Self {
        let SignInTokenWire {
            object: _,
            id,
            status,
            user_id,
            token,
            url,
            created_at,
            updated_at,
        } = wire;
        Self {
            id,
            status,
            user_id,
            token,
            url,
            created_at,
            updated_at,
        }
    }
}

impl From<SignInToken> for SignInTokenWire {
    fn from(t: SignInToken) -> Self {
        Self {
            object: ObjectTag::new(),
            id: t.id,
            status: t.status,
            user_id: t.user_id,
            token: t.token,
            url: t.url,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

impl SignInToken {
    /// A sign-in token with the given fields; for tests and stand-ins.
    /// Replies from Clerk are decoded, not built.
    pub fn new(
        id: impl Into<String>,
        status: SignInTokenStatus,
        user_id: impl Into<String>,
        created_at: Timestamp,
    ) -> Self {
        Self {
            id: id.into(),
            status,
            user_id: user_id.into(),
            token: None,
            url: None,
            created_at,
            updated_at: created_at,
        }
    }
}

/// The body Clerk sends with an error status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClerkErrors {
    /// What went wrong; usually one entry.
    pub errors: Vec<ClerkError>,
    /// Free-form details about the whole reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
    /// The id Clerk support asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clerk_trace_id: Option<String>,
}

impl ClerkErrors {
    /// An error body with the given errors; for tests and stand-ins.
    pub fn new(errors: Vec<ClerkError>) -> Self {
        Self {
            errors,
            meta: None,
            clerk_trace_id: None,
        }
    }
}

/// One error in a [`ClerkErrors`] body.
///
/// `code` is an open string (`resource_not_found`, `form_param_missing`,
/// `sign_in_token_cannot_be_revoked_code`, …): compare it, don't enumerate
/// it. `message` and `long_message` read as empty when Clerk leaves them out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClerkError {
    /// A short, human-readable message.
    #[serde(default)]
    pub message: String,
    /// A longer explanation.
    #[serde(default)]
    pub long_message: String,
    /// A machine-readable code.
    pub code: String,
    /// Free-form details, such as `{"param_name": "user_id"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

impl ClerkError {
    /// An error with the given code and messages; for tests and stand-ins.
    pub fn new(
        code: impl Into<String>,
        message: impl Into<String>,
        long_message: impl Into<String>,
    ) -> Self {
        Self {
            message: message.into(),
            long_message: long_message.into(),
            code: code.into(),
            meta: None,
        }
    }

    /// The request parameter this error is about (`meta.param_name`), if any.
    pub fn param_name(&self) -> Option<&str> {
        self.meta.as_ref()?.get("param_name")?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"object":"sign_in_token","id":"sit_1","status":"pending","user_id":"user_1","token":"a.b.c","url":"https://x/?ticket=a.b.c","created_at":1638000669544,"updated_at":1638000669545}"#;

    #[test]
    fn decodes_every_field() {
        let t: SignInToken = serde_json::from_str(FULL).unwrap();
        assert_eq!(t.id, "sit_1");
        assert_eq!(t.status, SignInTokenStatus::Pending);
        assert_eq!(t.user_id, "user_1");
        assert_eq!(t.token.as_ref().unwrap().expose(), "a.b.c");
        assert_eq!(t.url.as_ref().unwrap().expose(), "https://x/?ticket=a.b.c");
        assert_eq!(t.created_at.as_millis(), 1_638_000_669_544);
        assert_eq!(t.updated_at.as_millis(), 1_638_000_669_545);
        let back = serde_json::to_string(&t).unwrap();
        assert_eq!(back, FULL);
    }

    #[test]
    fn optional_fields_and_unknown_fields() {
        let json = r#"{"object":"sign_in_token","id":"sit_1","status":"revoked","user_id":"u","url":null,"created_at":1,"updated_at":2,"new_field":{"x":[1,2]}}"#;
        let t: SignInToken = serde_json::from_str(json).unwrap();
        assert_eq!(t.token, None);
        assert_eq!(t.url, None);
        assert_eq!(t.status, SignInTokenStatus::Revoked);
    }

    #[test]
    fn unknown_status_is_kept() {
        let json = FULL.replace("pending", "expired");
        let t: SignInToken = serde_json::from_str(&json).unwrap();
        assert_eq!(t.status, SignInTokenStatus::Other("expired".into()));
        assert_eq!(serde_json::to_string(&t).unwrap(), json);
        // Escaped strings take the owned path of the visitor.
        let t: SignInToken =
            serde_json::from_str(&FULL.replace("pending", "pend\\u0069ng")).unwrap();
        assert_eq!(t.status, SignInTokenStatus::Pending);
    }

    #[test]
    fn wrong_object_or_missing_field_is_refused() {
        assert!(
            serde_json::from_str::<SignInToken>(&FULL.replace("sign_in_token", "user")).is_err()
        );
        for field in [
            "\"object\"",
            "\"id\"",
            "\"status\"",
            "\"user_id\"",
            "\"created_at\"",
            "\"updated_at\"",
        ] {
            let json = FULL.replacen(field, "\"renamed\"", 1);
            assert!(
                serde_json::from_str::<SignInToken>(&json).is_err(),
                "{field}"
            );
        }
    }

    #[test]
    fn debug_redacts_credentials() {
        let t: SignInToken = serde_json::from_str(FULL).unwrap();
        let d = format!("{t:?} {t:#?}");
        assert!(!d.contains("a.b.c"));
        assert!(d.contains("[redacted]"));
    }

    #[test]
    fn timestamps() {
        assert_eq!(Timestamp::from_millis(0).to_system_time(), Some(UNIX_EPOCH));
        assert_eq!(
            Timestamp::from_millis(-1500).to_system_time(),
            UNIX_EPOCH.checked_sub(Duration::from_millis(1500))
        );
        // Extremes never panic.
        let _ = Timestamp::from_millis(i64::MAX).to_system_time();
        let _ = Timestamp::from_millis(i64::MIN).to_system_time();
    }

    #[test]
    fn numbers_in_meta_round_trip_exactly() {
        // Found by fuzzing: an integer past u64 is read as a float, and
        // without exact float parsing it came back as a different float.
        let json = br#"{"errors":[{"code":"c","meta":{"n":[100000000000002000000000000, 0.1, 1e-320, -4.9e-324]}}]}"#;
        let body: ClerkErrors = serde_json::from_slice(json).unwrap();
        let again: ClerkErrors =
            serde_json::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(again, body);
    }

    #[test]
    fn clerk_errors_shape() {
        let json = r#"{"errors":[{"message":"is missing","long_message":"user_id is missing","code":"form_param_missing","meta":{"param_name":"user_id"}}],"clerk_trace_id":"abc"}"#;
        let e: ClerkErrors = serde_json::from_str(json).unwrap();
        assert_eq!(e.errors[0].param_name(), Some("user_id"));
        assert_eq!(e.clerk_trace_id.as_deref(), Some("abc"));
        assert_eq!(serde_json::to_string(&e).unwrap(), json);
        assert!(serde_json::from_str::<ClerkErrors>(r#"{"errors":[{"message":"x"}]}"#).is_err());
        assert!(serde_json::from_str::<ClerkErrors>(r#"{"error":"x"}"#).is_err());
    }
}
