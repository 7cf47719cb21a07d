//! Parsing a response with clerk-core and comparing the typed result with the
//! JSON it came from.

use std::fmt;

use clerk_core::http::Response;
use clerk_core::{
    CreateSignInToken, Error, ErrorKind, ListUsers, Operation, RevokeSignInToken, SignInToken, User,
};
use serde_json::{Map, Value};

/// Every operation the checks know, by the short name the JSON-lines files use. A new
/// operation is one entry here: how to make one (its arguments do not matter for parsing)
/// and how to compare what clerk-core returns with the JSON it came from.
static OPERATIONS: &[&dyn OpCheck] = &[
    &Entry {
        name: "create",
        sample: sample_create,
        compare: compare_token,
    },
    &Entry {
        name: "revoke",
        sample: sample_revoke,
        compare: compare_token,
    },
    &Entry {
        name: "list_users",
        sample: sample_list_users,
        compare: compare_users,
    },
];

fn sample_create() -> CreateSignInToken {
    CreateSignInToken::new("user_x")
}

fn sample_revoke() -> RevokeSignInToken {
    RevokeSignInToken::new("sit_x")
}

fn sample_list_users() -> ListUsers {
    ListUsers::by_email_addresses(["ann@example.com"])
}

/// One operation of the table: parses a reply with clerk-core and compares a success with
/// the JSON, whatever the operation's output type.
trait OpCheck: Sync {
    fn name(&self) -> &'static str;

    /// Parses `response`. On success, the comparison of the output with the JSON that
    /// `json` gives; on failure, clerk-core's error.
    fn parse_and_compare(
        &self,
        response: &Response<Vec<u8>>,
        json: &dyn Fn() -> Result<Value, String>,
    ) -> Result<Result<(), String>, Error>;
}

struct Entry<O: Operation> {
    name: &'static str,
    sample: fn() -> O,
    compare: fn(&O::Output, &Value) -> Result<(), String>,
}

impl<O: Operation> OpCheck for Entry<O> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn parse_and_compare(
        &self,
        response: &Response<Vec<u8>>,
        json: &dyn Fn() -> Result<Value, String>,
    ) -> Result<Result<(), String>, Error> {
        let output = (self.sample)().parse_response(response)?;
        Ok(json().and_then(|json| (self.compare)(&output, &json)))
    }
}

/// Which operation a response answers: an entry of the table.
#[derive(Clone, Copy)]
pub struct Op(&'static dyn OpCheck);

impl Op {
    /// The operation for its short name (`create`, `revoke`, …).
    pub fn from_name(name: &str) -> Option<Self> {
        OPERATIONS
            .iter()
            .find(|op| op.name() == name)
            .map(|op| Self(*op))
    }

    /// Every operation the checks know.
    pub fn all() -> impl Iterator<Item = Self> {
        OPERATIONS.iter().map(|op| Self(*op))
    }

    /// The short name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl PartialEq for Op {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Op {}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Op({})", self.name())
    }
}

/// What clerk-core made of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// `Ok(_)`: the operation's output.
    Ok,
    /// `ErrorKind::Api`: Clerk said no.
    Api,
    /// `ErrorKind::Decode`: a success body of the wrong shape.
    Decode,
    /// `ErrorKind::UnexpectedResponse`.
    Unexpected,
    /// Any other error kind.
    Other,
}

impl Outcome {
    /// The name used in the JSON-lines files: `ok`, `api`, `decode`,
    /// `unexpected`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Api => "api",
            Self::Decode => "decode",
            Self::Unexpected => "unexpected",
            Self::Other => "other",
        }
    }

    /// The outcome for its name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Ok,
            Self::Api,
            Self::Decode,
            Self::Unexpected,
            Self::Other,
        ]
        .into_iter()
        .find(|o| o.name() == name)
    }

    fn of<T>(result: &Result<T, Error>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(e) => match e.kind() {
                ErrorKind::Api(_) => Self::Api,
                ErrorKind::Decode(_) => Self::Decode,
                ErrorKind::UnexpectedResponse(_) => Self::Unexpected,
                _ => Self::Other,
            },
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One response to parse, with what clerk-core must make of it.
#[derive(Clone, Debug)]
pub struct Case {
    /// A name for messages.
    pub name: String,
    /// The operation it answers.
    pub op: Op,
    /// The HTTP status.
    pub status: u16,
    /// Header fields, in order.
    pub headers: Vec<(String, String)>,
    /// The body, exactly as sent.
    pub body: String,
    /// The JSON value the body encodes, when the generator supplied it; the
    /// comparison uses it so a serialization slip on either side shows.
    pub instance: Option<Value>,
    /// What clerk-core must return.
    pub expect: Outcome,
    /// Where the case comes from, for the report (`generated` unless said).
    pub source: String,
}

impl Case {
    /// Reads a case from a line of `responses.jsonl`:
    /// `{"name", "operation", "status", "headers": [[k, v]], "body", "instance"?, "expect", "source"?}`.
    ///
    /// # Errors
    /// When a field is missing or of the wrong type.
    pub fn from_json(line: &Value) -> Result<Self, String> {
        let field = |k: &str| line.get(k).ok_or_else(|| format!("missing `{k}`"));
        let str_field = |k: &str| {
            field(k)?
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("`{k}` is not a string"))
        };
        let name = str_field("name")?;
        let op = Op::from_name(&str_field("operation")?).ok_or("unknown `operation`")?;
        let status = field("status")?
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or("bad `status`")?;
        let headers = field("headers")?
            .as_array()
            .ok_or("`headers` is not an array")?
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
                _ => Err(format!("bad header pair {pair}")),
            })
            .collect::<Result<_, _>>()?;
        let body = str_field("body")?;
        let expect = Outcome::from_name(&str_field("expect")?).ok_or("unknown `expect`")?;
        Ok(Self {
            name,
            op,
            status,
            headers,
            body,
            instance: line.get("instance").cloned(),
            expect,
            source: line
                .get("source")
                .and_then(Value::as_str)
                .unwrap_or("generated")
                .to_owned(),
        })
    }

    /// The case as an `http::Response`.
    ///
    /// # Errors
    /// When the status or a header cannot be represented.
    pub fn response(&self) -> Result<Response<Vec<u8>>, String> {
        let mut builder = Response::builder().status(self.status);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder
            .body(self.body.as_bytes().to_vec())
            .map_err(|e| format!("cannot build the response: {e}"))
    }

    /// Parses the case with clerk-core and checks the result, returning the
    /// outcome.
    ///
    /// - `ok`: `Ok(output)` that the operation's comparison finds equal to
    ///   the JSON (for a `SignInToken`, every field; a field absent or `null`
    ///   in the JSON is `None`).
    /// - `api`: `ErrorKind::Api` with the status, and errors (code, message,
    ///   long message, meta), top-level meta and codes equal to the JSON's;
    ///   the trace id is the body's `clerk_trace_id` when non-empty, else a
    ///   `Clerk-Trace-Id` header.
    /// - `decode`: `ErrorKind::Decode` with the status.
    /// - `unexpected`: `ErrorKind::UnexpectedResponse` with the status.
    ///
    /// # Errors
    /// A message saying what differs.
    pub fn check(&self) -> Result<Outcome, String> {
        let response = self.response()?;
        let json = || match &self.instance {
            Some(v) => Ok(v.clone()),
            None => serde_json::from_str(&self.body)
                .map_err(|e| format!("the case's body is not JSON: {e}")),
        };
        let result = self.op.0.parse_and_compare(&response, &json);
        let outcome = Outcome::of(&result);
        if outcome != self.expect {
            let detail = match &result {
                Ok(_) => format!("Ok({} output)", self.op.name()),
                Err(e) => format!("{e}"),
            };
            return Err(format!(
                "expected {}, clerk-core gave {outcome}: {detail}",
                self.expect
            ));
        }
        match result {
            Ok(comparison) => comparison,
            Err(error) => {
                if error.status().map(|s| s.as_u16()) != Some(self.status) {
                    return Err(format!(
                        "error status {:?}, want {}",
                        error.status(),
                        self.status
                    ));
                }
                if outcome == Outcome::Api {
                    compare_api(&error, &json()?, &self.headers)
                } else {
                    Ok(())
                }
            }
        }?;
        Ok(outcome)
    }
}

fn same<T: PartialEq + fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{what}: clerk-core has {got:?}, the JSON has {want:?}"
        ))
    }
}

fn object<'a>(what: &str, v: &'a Value) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what} is not a JSON object"))
}

fn opt_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn compare_token(token: &SignInToken, json: &Value) -> Result<(), String> {
    let obj = object("the SignInToken", json)?;
    same("object", Some("sign_in_token"), opt_str(obj, "object"))?;
    same("id", Some(token.id.as_str()), opt_str(obj, "id"))?;
    same(
        "status",
        Some(token.status.as_str()),
        opt_str(obj, "status"),
    )?;
    same(
        "user_id",
        Some(token.user_id.as_str()),
        opt_str(obj, "user_id"),
    )?;
    // Credentials are compared, never printed.
    let token_eq = token.token.as_ref().map(|t| t.expose()) == opt_str(obj, "token");
    same("token (equal)", token_eq, true)?;
    let url_eq = token.url.as_ref().map(|u| u.expose()) == opt_str(obj, "url");
    same("url (equal)", url_eq, true)?;
    same(
        "created_at",
        Some(token.created_at.as_millis()),
        obj.get("created_at").and_then(Value::as_i64),
    )?;
    same(
        "updated_at",
        Some(token.updated_at.as_millis()),
        obj.get("updated_at").and_then(Value::as_i64),
    )
}

/// A `User` list: every user in order, with its id, email addresses (ids and addresses),
/// primary email address id, external id, names and timestamps equal to the JSON's. A list,
/// name or id absent or `null` in the JSON is empty or `None`; a timestamp absent is 0.
// The table's comparisons take `&O::Output`, here `&Vec<User>`.
#[allow(clippy::ptr_arg)]
fn compare_users(users: &Vec<User>, json: &Value) -> Result<(), String> {
    let list = json.as_array().ok_or("the User list is not a JSON array")?;
    same("number of users", users.len(), list.len())?;
    for (i, (user, want)) in users.iter().zip(list).enumerate() {
        let obj = object(&format!("users[{i}]"), want)?;
        let at = |field: &str| format!("users[{i}].{field}");
        same(&at("id"), Some(user.id.as_str()), opt_str(obj, "id"))?;
        for (field, got) in [
            ("primary_email_address_id", &user.primary_email_address_id),
            ("external_id", &user.external_id),
            ("first_name", &user.first_name),
            ("last_name", &user.last_name),
        ] {
            same(&at(field), got.as_deref(), opt_str(obj, field))?;
        }
        for (field, got) in [
            ("created_at", user.created_at),
            ("updated_at", user.updated_at),
        ] {
            let want = obj.get(field).and_then(Value::as_i64).unwrap_or(0);
            same(&at(field), got, want)?;
        }
        let emails = match obj.get("email_addresses") {
            None | Some(Value::Null) => &[][..],
            Some(v) => v
                .as_array()
                .map(Vec::as_slice)
                .ok_or_else(|| format!("{} is not an array", at("email_addresses")))?,
        };
        same(
            &at("email_addresses.len()"),
            user.email_addresses.len(),
            emails.len(),
        )?;
        for (j, (got, want)) in user.email_addresses.iter().zip(emails).enumerate() {
            let want = object(&at(&format!("email_addresses[{j}]")), want)?;
            same(
                &at(&format!("email_addresses[{j}].id")),
                got.id.as_deref(),
                opt_str(want, "id"),
            )?;
            same(
                &at(&format!("email_addresses[{j}].email_address")),
                Some(got.email_address.as_str()),
                opt_str(want, "email_address"),
            )?;
        }
    }
    Ok(())
}

/// The longest `Clerk-Trace-Id` header clerk-core keeps.
const MAX_TRACE_ID_HEADER: usize = 256;

fn compare_api(error: &Error, json: &Value, headers: &[(String, String)]) -> Result<(), String> {
    let ErrorKind::Api(api) = error.kind() else {
        return Err("not an API error".to_owned());
    };
    let obj = object("the ClerkErrors body", json)?;
    let errors = obj
        .get("errors")
        .and_then(Value::as_array)
        .ok_or("`errors` is not an array")?;
    same("number of errors", api.body.errors.len(), errors.len())?;
    for (i, (got, want)) in api.body.errors.iter().zip(errors).enumerate() {
        let want = object("an error", want)?;
        same(
            &format!("errors[{i}].code"),
            Some(got.code.as_str()),
            opt_str(want, "code"),
        )?;
        same(
            &format!("errors[{i}].message"),
            Some(got.message.as_str()),
            opt_str(want, "message"),
        )?;
        same(
            &format!("errors[{i}].long_message"),
            Some(got.long_message.as_str()),
            opt_str(want, "long_message"),
        )?;
        same(
            &format!("errors[{i}].meta"),
            got.meta.as_ref(),
            want.get("meta").and_then(Value::as_object),
        )?;
    }
    same(
        "meta",
        api.body.meta.as_ref(),
        obj.get("meta").and_then(Value::as_object),
    )?;
    let codes: Vec<&str> = errors
        .iter()
        .filter_map(|e| e.get("code").and_then(Value::as_str))
        .collect();
    same("codes()", error.codes().collect::<Vec<_>>(), codes)?;
    let header_trace = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("clerk-trace-id"))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= MAX_TRACE_ID_HEADER);
    let want_trace = opt_str(obj, "clerk_trace_id")
        .filter(|t| !t.is_empty())
        .or(header_trace);
    same("trace_id()", error.trace_id(), want_trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TOKEN: &str = r#"{"object":"sign_in_token","id":"sit_1","status":"pending","user_id":"user_1","token":"a.b.c","url":null,"created_at":1638000669544,"updated_at":1638000669545}"#;
    const ERRORS: &str = r#"{"errors":[{"message":"not found","long_message":"No user","code":"resource_not_found","meta":{"x":[1,2]}}],"clerk_trace_id":"trace_body"}"#;

    fn case(status: u16, body: &str, expect: Outcome) -> Case {
        Case {
            name: "t".into(),
            op: Op::from_name("create").unwrap(),
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            instance: None,
            expect,
            source: "test".into(),
        }
    }

    #[test]
    fn a_matching_token_passes() {
        assert_eq!(case(200, TOKEN, Outcome::Ok).check(), Ok(Outcome::Ok));
    }

    #[test]
    fn a_differing_instance_is_caught() {
        // The checker must notice when clerk-core's value and the JSON differ.
        let mut c = case(200, TOKEN, Outcome::Ok);
        let mut instance: Value = serde_json::from_str(TOKEN).unwrap();
        for (field, value) in [
            ("id", json!("sit_2")),
            ("status", json!("revoked")),
            ("token", json!("x.y.z")),
            ("url", json!("https://x")),
            ("created_at", json!(1)),
        ] {
            let mut changed = instance.clone();
            changed[field] = value;
            c.instance = Some(changed);
            let err = c.check().unwrap_err();
            assert!(err.contains(field), "{field}: {err}");
            assert!(!err.contains("a.b.c"), "a credential was printed: {err}");
        }
        instance.as_object_mut().unwrap().remove("token");
        c.instance = Some(instance);
        assert!(c.check().unwrap_err().contains("token"));
    }

    #[test]
    fn api_errors_are_compared() {
        let c = case(404, ERRORS, Outcome::Api);
        assert_eq!(c.check(), Ok(Outcome::Api));
        let mut wrong = c.clone();
        wrong.instance =
            Some(serde_json::from_str(&ERRORS.replace("resource_not_found", "other")).unwrap());
        assert!(wrong.check().unwrap_err().contains("code"));
        let mut wrong = c.clone();
        wrong.instance =
            Some(serde_json::from_str(&ERRORS.replace("trace_body", "other")).unwrap());
        assert!(wrong.check().unwrap_err().contains("trace_id"));
    }

    #[test]
    fn trace_id_falls_back_to_the_header() {
        let body =
            r#"{"errors":[{"message":"m","long_message":"l","code":"c"}],"clerk_trace_id":""}"#;
        let mut c = case(400, body, Outcome::Api);
        c.op = Op::from_name("revoke").unwrap();
        c.headers
            .push(("Clerk-Trace-Id".into(), " trace_header ".into()));
        assert_eq!(c.check(), Ok(Outcome::Api));
    }

    #[test]
    fn a_wrong_outcome_is_caught() {
        assert!(case(200, TOKEN, Outcome::Api).check().is_err());
        assert!(case(404, ERRORS, Outcome::Ok).check().is_err());
        let missing_id = TOKEN.replace(r#""id":"sit_1","#, "");
        assert_eq!(
            case(200, &missing_id, Outcome::Decode).check(),
            Ok(Outcome::Decode)
        );
        assert!(case(200, &missing_id, Outcome::Ok).check().is_err());
    }

    const USERS: &str = r#"[{"object":"user","id":"user_1","external_id":"crm-1",
        "primary_email_address_id":"idn_1","first_name":"Ann","last_name":null,
        "email_addresses":[{"object":"email_address","id":"idn_1","email_address":"ann@example.com","verification":null}],
        "created_at":1700000000000,"updated_at":1700000000001,"banned":false},
        {"object":"user","id":"user_2","external_id":null,"primary_email_address_id":null,
        "first_name":null,"last_name":null,"email_addresses":[],"created_at":1,"updated_at":2}]"#;

    #[test]
    fn a_matching_user_list_passes_and_a_differing_one_is_caught() {
        let mut c = case(200, USERS, Outcome::Ok);
        c.op = Op::from_name("list_users").unwrap();
        assert_eq!(c.check(), Ok(Outcome::Ok));
        let instance: Value = serde_json::from_str(USERS).unwrap();
        for (path, value, field) in [
            ("/0/id", json!("user_9"), "id"),
            ("/0/external_id", json!("crm-2"), "external_id"),
            ("/0/first_name", Value::Null, "first_name"),
            ("/1/updated_at", json!(3), "updated_at"),
            (
                "/0/email_addresses/0/email_address",
                json!("bob@example.com"),
                "email_address",
            ),
            (
                "/0/email_addresses/0/id",
                json!("idn_2"),
                "email_addresses[0].id",
            ),
        ] {
            let mut changed = instance.clone();
            *changed.pointer_mut(path).unwrap() = value;
            c.instance = Some(changed);
            let err = c.check().unwrap_err();
            assert!(err.contains(field), "{path}: {err}");
        }
        let mut shorter = instance.clone();
        shorter.as_array_mut().unwrap().pop();
        c.instance = Some(shorter);
        assert!(c.check().unwrap_err().contains("number of users"));
        // A user without an id is a decode error, not a user.
        let mut c = case(
            200,
            &USERS.replace(r#""id":"user_2","#, ""),
            Outcome::Decode,
        );
        c.op = Op::from_name("list_users").unwrap();
        assert_eq!(c.check(), Ok(Outcome::Decode));
    }

    #[test]
    fn operations_are_found_by_name() {
        let names: Vec<&str> = Op::all().map(Op::name).collect();
        assert_eq!(names, ["create", "revoke", "list_users"]);
        for name in names {
            assert_eq!(Op::from_name(name).map(Op::name), Some(name));
        }
        assert_eq!(Op::from_name("delete_everything"), None);
        let line = json!({"name": "n", "operation": "nope", "status": 200,
            "headers": [], "body": "{}", "expect": "ok"});
        assert!(Case::from_json(&line).is_err());
    }

    #[test]
    fn cases_read_from_json() {
        let line = json!({"name": "n", "operation": "revoke", "status": 200,
            "headers": [["content-type", "application/json"]], "body": TOKEN, "expect": "ok"});
        let c = Case::from_json(&line).unwrap();
        assert_eq!(c.op, Op::from_name("revoke").unwrap());
        assert_eq!(c.check(), Ok(Outcome::Ok));
        assert!(Case::from_json(&json!({"name": "n"})).is_err());
    }
}
