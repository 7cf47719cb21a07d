//! Writes what the SDK sends and what clerk-mock answers, for the OpenAPI
//! validator in `conformance/validate.py`.
//!
//! Usage: `dump <directory>`. Writes two JSON-lines files there:
//!
//! - `sdk_requests.jsonl`: every request `clerk-core` builds for create,
//!   revoke and the user lookup over a matrix of arguments (each optional
//!   field absent and present, awkward user, organization and token ids,
//!   awkward and too many email addresses and external ids, batches).
//!   Arguments the SDK refuses before sending are written as refusals.
//! - `mock_exchanges.jsonl`: real HTTP exchanges with a `clerk-mock` server:
//!   what the server received and exactly what it answered.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clerk_conformance::http1::{self, RawResponse};
use clerk_conformance::{files, headers_json, request_json, text};
use clerk_core::http::Request;
use clerk_core::{
    Config, CreateSignInToken, Error, ListUsers, Operation, RevokeSignInToken, UserFilter,
    email_lookup_batches,
};
use clerk_mock::{Fault, MockServer, UserSpec};
use serde_json::{Value, json};

/// The key in SDK-built requests: obviously fake.
const SECRET_KEY: &str = "sk_test_conformance_not_a_real_key";

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: dump <output directory>");
        return ExitCode::from(2);
    };
    match run(&dir) {
        Ok((requests, exchanges)) => {
            println!(
                "dump: {requests} SDK requests and refusals, {exchanges} clerk-mock exchanges in {}",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dump: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &std::path::Path) -> Result<(usize, usize), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let requests = write_lines(&dir.join(files::SDK_REQUESTS), sdk_requests()?)?;
    let exchanges = write_lines(&dir.join(files::MOCK_EXCHANGES), mock_exchanges()?)?;
    Ok((requests, exchanges))
}

fn write_lines(path: &std::path::Path, lines: Vec<Value>) -> Result<usize, String> {
    let file = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BufWriter::new(file);
    for line in &lines {
        serde_json::to_writer(&mut out, line).map_err(|e| e.to_string())?;
        out.write_all(b"\n").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok(lines.len())
}

// ---------------------------------------------------------------------------
// Requests built by the SDK.

/// Ids that are awkward in a JSON string or a URL path.
fn awkward_ids() -> Vec<String> {
    let mut ids: Vec<String> = [
        "sit_26Ed5ZqqJcOjRwecRQij2ZovDdG",
        "x",
        "a/b",
        "/leading",
        "trailing/",
        "a?b=c",
        "?",
        "a#b",
        "#",
        "100%",
        "%2F",
        "%25",
        "%zz",
        "a b",
        " ",
        "+plus+",
        "a&b=c;d",
        "@:!$'()*,=",
        "..a",
        "a..",
        "...",
        "../..",
        "../x",
        "x/..",
        "./x",
        "..%2F..",
        "é",
        "日本語",
        "😀",
        "Ω\u{301}",
        "\u{feff}bom",
        "line\r\nX-Injected: 1",
        "\r",
        "\n",
        "tab\there",
        "nul\u{0}byte",
        "del\u{7f}",
        "quote\"back\\slash",
        "<script>",
        "{sign_in_token_id}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    ids.push("a".repeat(2048));
    // Every ASCII character once, between ordinary ones.
    ids.extend((0u8..=0x7f).map(|b| format!("sit_{}_x", char::from(b))));
    ids
}

fn sdk_requests() -> Result<Vec<Value>, String> {
    let configs = [
        (
            "default",
            Config::new(SECRET_KEY).map_err(|e| e.to_string())?,
        ),
        (
            "pinned",
            Config::new(SECRET_KEY)
                .and_then(|c| c.with_api_version("2025-11-10"))
                .and_then(|c| c.with_user_agent_suffix("clerk-conformance/0"))
                .map_err(|e| e.to_string())?,
        ),
    ];
    let lifetimes: [Option<Duration>; 10] = [
        None,
        Some(Duration::from_secs(1)),
        Some(Duration::from_secs(60)),
        Some(Duration::from_millis(1999)),
        Some(Duration::from_secs(3600)),
        Some(Duration::from_secs(2_592_000)),
        Some(Duration::from_secs(i64::MAX as u64)),
        // Refused before sending: under one second, and too large for an int64.
        Some(Duration::ZERO),
        Some(Duration::from_millis(999)),
        Some(Duration::from_secs(u64::MAX)),
    ];
    let mut out = Vec::new();
    let ids = awkward_ids();
    let typical_user = "user_26Ect5GuCCeaFWwSDiiKcgAGtVk";
    let orgs: [Option<&str>; 4] = [None, Some("org_2abcDEF"), Some("org/?#% é\r\n\""), Some("")];
    let mut create = |config_name: &str,
                      config: &Config,
                      user: &str,
                      lifetime: Option<Duration>,
                      org: Option<&str>| {
        let mut op = CreateSignInToken::new(user);
        if let Some(d) = lifetime {
            op = op.with_expires_in(d);
        }
        if let Some(o) = org {
            op = op.with_org_id(o);
        }
        let input = json!({
            "user_id": user,
            "expires_in": lifetime.map(|d| json!({"secs": d.as_secs(), "subsec_nanos": d.subsec_nanos()})),
            "org_id": org,
        });
        out.push(record(
            "create",
            config_name,
            input,
            op.build_request(config),
        ));
    };
    for (config_name, config) in &configs {
        // The whole matrix of optional fields for an ordinary user id.
        for lifetime in lifetimes {
            for org in orgs {
                create(config_name, config, typical_user, lifetime, org);
            }
        }
        if *config_name != "default" {
            continue;
        }
        // Every awkward id as the user id (without and with both options),
        // and as the organization id.
        for id in ids.iter().chain([&String::new()]) {
            create(config_name, config, id, None, None);
            create(
                config_name,
                config,
                id,
                Some(Duration::from_secs(3600)),
                Some("org_2abcDEF"),
            );
            create(config_name, config, typical_user, None, Some(id));
        }
    }
    for (config_name, config) in &configs {
        let revoke_ids: Vec<String> = if *config_name == "default" {
            let mut v = ids.clone();
            v.extend(["", ".", ".."].map(str::to_owned));
            v
        } else {
            vec!["sit_26Ed5ZqqJcOjRwecRQij2ZovDdG".to_owned()]
        };
        for id in revoke_ids {
            let op = RevokeSignInToken::new(id.clone());
            let input = json!({ "sign_in_token_id": id });
            out.push(record(
                "revoke",
                config_name,
                input,
                op.build_request(config),
            ));
        }
    }
    out.extend(lookup_requests(&configs, &ids));
    // A caller's own base URL is outside the description's server; it is
    // written for completeness with its prefix, and validated by mapping the
    // prefix to the description's server.
    let proxied = Config::new(SECRET_KEY)
        .and_then(|c| c.with_base_url("http://127.0.0.1:4010/clerk/v1/"))
        .map_err(|e| e.to_string())?;
    for id in ["sit_1", "a/b?c#d", "é"] {
        let op = RevokeSignInToken::new(id);
        let mut line = record(
            "revoke",
            "proxy-base-url",
            json!({ "sign_in_token_id": id }),
            op.build_request(&proxied),
        );
        line["base_url"] = json!(proxied.base_url());
        out.push(line);
    }
    Ok(out)
}

/// The lookups the SDK builds: by email addresses (awkward ones, `+`, case, 1 to 101 values,
/// an empty list, an empty value, more than the query's byte budget), by external ids
/// (leading signs), with an offset and limits, and the batches `email_lookup_batches` makes
/// of 250 addresses. Each request's input is the values it was built from.
fn lookup_requests(configs: &[(&str, Config)], ids: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut push = |config_name: &str, config: &Config, op: ListUsers, mut input: Value| {
        let key = match op.filter() {
            UserFilter::ExternalId => "external_ids",
            _ => "email_addresses",
        };
        input[key] = json!(op.values());
        out.push(record(
            "list_users",
            config_name,
            input,
            op.build_request(config),
        ));
    };
    let address = |i: usize| format!("user{i}@example.com");
    let mut email_lists: Vec<Vec<String>> = vec![
        vec!["ann@example.com".to_owned()],
        vec![
            "test+1@example.com".to_owned(),
            "Ann@Example.COM".to_owned(),
        ],
        vec![],
        vec![String::new()],
        vec!["ann@example.com".to_owned(), String::new()],
        (0..100).map(address).collect(),
        (0..101).map(address).collect(),
        // 100 addresses of 80 bytes: over the query's byte budget.
        (0..100)
            .map(|i| format!("{i:03}{}@example.com", "x".repeat(65)))
            .collect(),
        // Every awkward id as an address (the SDK does not check that it looks like one).
        ids.iter().take(100).cloned().collect(),
        ids.iter().skip(100).cloned().collect(),
    ];
    email_lists.extend(ids.iter().map(|id| vec![id.clone()]));
    for (config_name, config) in configs {
        for list in &email_lists {
            let op = ListUsers::by_email_addresses(list.clone());
            push(config_name, config, op, json!({}));
            if *config_name != "default" {
                break;
            }
        }
    }
    let (config_name, config) = (&configs[0].0, &configs[0].1);
    for list in [
        vec!["crm-42"],
        vec![
            "-starts-with-minus",
            "+starts-with-plus",
            "a b&c=d",
            "ünï/?#",
        ],
        vec!["+"],
        vec![""],
    ] {
        push(
            config_name,
            config,
            ListUsers::by_external_ids(list),
            json!({}),
        );
    }
    let two = ["ann@example.com", "bob@example.com"];
    push(
        config_name,
        config,
        ListUsers::by_email_addresses(two).with_offset(7),
        json!({"offset": 7}),
    );
    for limit in [1u16, 2, 500, 0, 501] {
        push(
            config_name,
            config,
            ListUsers::by_email_addresses(two).with_limit(limit),
            json!({"limit": limit}),
        );
    }
    // The batches of a lookup of 250 addresses, some twice in another case.
    let mut many: Vec<String> = (0..250).map(address).collect();
    many.extend((0..20).map(|i| address(i).to_uppercase()));
    for op in email_lookup_batches(&many) {
        push(config_name, config, op, json!({"batch_of": many.len()}));
    }
    out
}

fn record(
    operation: &str,
    config: &str,
    input: Value,
    built: Result<Request<Vec<u8>>, Error>,
) -> Value {
    let mut line = json!({
        "operation": operation,
        "config": config,
        "input": input,
        "base_url": clerk_core::DEFAULT_BASE_URL,
    });
    match built {
        Ok(request) => {
            line["kind"] = json!("request");
            line["request"] = request_json(&request);
        }
        Err(e) => {
            line["kind"] = json!("refused");
            line["argument"] = json!(e.invalid_argument());
            line["reason"] = json!(e.to_string());
        }
    }
    line
}

// ---------------------------------------------------------------------------
// Exchanges with clerk-mock.

struct Exchange {
    name: &'static str,
    operation: &'static str,
    /// `sdk`: built by clerk-core; `hand`: built here to provoke an error.
    built_by: &'static str,
    /// Whether the request is valid against the description.
    request_valid: bool,
    expect_status: u16,
    expect_code: Option<&'static str>,
}

/// A lookup exchange: name, request, built by, whether the request is valid, the expected
/// status and error code.
type LookupCase = (
    &'static str,
    Request<Vec<u8>>,
    &'static str,
    bool,
    u16,
    Option<&'static str>,
);

/// Builds an operation's request, or says why not.
fn built<O: Operation>(op: O, config: &Config) -> Result<Request<Vec<u8>>, String> {
    op.build_request(config).map_err(|e| e.to_string())
}

fn mock_exchanges() -> Result<Vec<Value>, String> {
    let server = MockServer::start();
    let config = Config::new(server.secret_key())
        .and_then(|c| c.with_base_url(&server.base_url()))
        .map_err(|e| e.to_string())?;
    let wrong_key = Config::new("sk_test_wrong_key")
        .and_then(|c| c.with_base_url(&server.base_url()))
        .map_err(|e| e.to_string())?;
    let user = server.create_user();
    let member = server.create_user();
    server.add_organization("org_conformance", &[&member]);
    let addr = server.addr();
    let mut out = Vec::new();
    let mut exchange = |x: Exchange, request: Request<Vec<u8>>| -> Result<RawResponse, String> {
        let before = server.requests().len();
        let response = http1::send(addr, &request).map_err(|e| format!("{}: {e}", x.name))?;
        let received = server
            .requests()
            .get(before)
            .cloned()
            .ok_or_else(|| format!("{}: clerk-mock recorded no request", x.name))?;
        let (headers, _) = headers_json(&received.headers);
        let (body, _) = text(&received.body);
        let (response_headers, _) = headers_json(&response.headers);
        let (response_body, lossy) = text(&response.body);
        out.push(json!({
            "name": x.name,
            "operation": x.operation,
            "built_by": x.built_by,
            "request_valid": x.request_valid,
            "expect": { "status": x.expect_status, "code": x.expect_code },
            "base_url": server.base_url(),
            "received": {
                "method": received.method,
                "target": received.path,
                "headers": headers,
                "body": body,
            },
            "response": {
                "status": response.status,
                "reason": response.reason,
                "headers": response_headers,
                "body": response_body,
                "lossy": lossy,
            },
        }));
        Ok(response)
    };
    let token_id = |r: &RawResponse| -> Result<String, String> {
        let v: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
        v["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "the created token has no id".to_owned())
    };

    // Create: success, then with both options.
    let created = exchange(
        Exchange {
            name: "create success",
            operation: "create",
            built_by: "sdk",
            request_valid: true,
            expect_status: 200,
            expect_code: None,
        },
        built(CreateSignInToken::new(&user), &config)?,
    )?;
    let first = token_id(&created)?;
    let with_options = exchange(
        Exchange {
            name: "create with expires_in_seconds and org_id",
            operation: "create",
            built_by: "sdk",
            request_valid: true,
            expect_status: 200,
            expect_code: None,
        },
        built(
            CreateSignInToken::new(&member)
                .with_expires_in_seconds(600)
                .with_org_id("org_conformance"),
            &config,
        )?,
    )?;
    let second = token_id(&with_options)?;
    exchange(
        Exchange {
            name: "create with expires_in_seconds only",
            operation: "create",
            built_by: "sdk",
            request_valid: true,
            expect_status: 200,
            expect_code: None,
        },
        built(
            CreateSignInToken::new(&user).with_expires_in_seconds(1),
            &config,
        )?,
    )?;

    // Revoke: success, then again (no longer pending), and an accepted one.
    exchange(
        Exchange {
            name: "revoke success",
            operation: "revoke",
            built_by: "sdk",
            request_valid: true,
            expect_status: 200,
            expect_code: None,
        },
        built(RevokeSignInToken::new(&first), &config)?,
    )?;
    exchange(
        Exchange {
            name: "revoke a revoked token",
            operation: "revoke",
            built_by: "sdk",
            request_valid: true,
            expect_status: 400,
            expect_code: Some("sign_in_token_cannot_be_revoked_code"),
        },
        built(RevokeSignInToken::new(&first), &config)?,
    )?;
    if !server.accept_token(&second) {
        return Err("clerk-mock did not accept the second token".to_owned());
    }
    exchange(
        Exchange {
            name: "revoke an accepted token",
            operation: "revoke",
            built_by: "sdk",
            request_valid: true,
            expect_status: 400,
            expect_code: Some("sign_in_token_cannot_be_revoked_code"),
        },
        built(RevokeSignInToken::new(&second), &config)?,
    )?;

    // Not found.
    exchange(
        Exchange {
            name: "create for an unknown user",
            operation: "create",
            built_by: "sdk",
            request_valid: true,
            expect_status: 404,
            expect_code: Some("resource_not_found"),
        },
        built(CreateSignInToken::new("user_does_not_exist"), &config)?,
    )?;
    exchange(
        Exchange {
            name: "revoke an unknown token",
            operation: "revoke",
            built_by: "sdk",
            request_valid: true,
            expect_status: 404,
            expect_code: Some("resource_not_found"),
        },
        built(RevokeSignInToken::new("sit_does_not_exist"), &config)?,
    )?;
    exchange(
        Exchange {
            name: "revoke an unknown token with an awkward id",
            operation: "revoke",
            built_by: "sdk",
            request_valid: true,
            expect_status: 404,
            expect_code: Some("resource_not_found"),
        },
        built(RevokeSignInToken::new("sit/../x?y#z é\r\n"), &config)?,
    )?;

    // Validation (422): one the SDK sends (the user is not a member of the
    // organization: valid against the description, refused by the server),
    // and bodies built by hand that the description itself forbids.
    exchange(
        Exchange {
            name: "create with an organization the user is not in",
            operation: "create",
            built_by: "sdk",
            request_valid: true,
            expect_status: 422,
            expect_code: Some("form_param_value_invalid"),
        },
        built(
            CreateSignInToken::new(&user).with_org_id("org_conformance"),
            &config,
        )?,
    )?;
    let template = built(CreateSignInToken::new(&user), &config)?;
    for (name, body, code) in [
        (
            "create without user_id (hand-built)",
            "{}".to_owned(),
            "form_param_missing",
        ),
        (
            "create with expires_in_seconds 0 (hand-built)",
            format!(r#"{{"user_id":"{user}","expires_in_seconds":0}}"#),
            "form_param_value_invalid",
        ),
        (
            "create with a string lifetime (hand-built)",
            format!(r#"{{"user_id":"{user}","expires_in_seconds":"60"}}"#),
            "form_param_value_invalid",
        ),
    ] {
        let mut request = template.clone();
        *request.body_mut() = body.into_bytes();
        exchange(
            Exchange {
                name,
                operation: "create",
                built_by: "hand",
                request_valid: false,
                expect_status: 422,
                expect_code: Some(code),
            },
            request,
        )?;
    }

    // 403 is documented for create but clerk-mock has no permission model:
    // it comes from an injected fault.
    server.push_fault(Fault::status(
        403,
        "authorization_invalid",
        "Authorization invalid",
    ));
    exchange(
        Exchange {
            name: "create refused with 403 (injected fault)",
            operation: "create",
            built_by: "sdk",
            request_valid: true,
            expect_status: 403,
            expect_code: Some("authorization_invalid"),
        },
        built(CreateSignInToken::new(&user), &config)?,
    )?;

    // 401 is not documented for these operations.
    exchange(
        Exchange {
            name: "create with a wrong key (401, undocumented)",
            operation: "create",
            built_by: "sdk",
            request_valid: true,
            expect_status: 401,
            expect_code: Some("authentication_invalid"),
        },
        built(CreateSignInToken::new(&user), &wrong_key)?,
    )?;
    exchange(
        Exchange {
            name: "revoke with a wrong key (401, undocumented)",
            operation: "revoke",
            built_by: "sdk",
            request_valid: true,
            expect_status: 401,
            expect_code: Some("authentication_invalid"),
        },
        built(RevokeSignInToken::new("sit_x"), &wrong_key)?,
    )?;
    let mut no_key = template.clone();
    no_key.headers_mut().remove("authorization");
    exchange(
        Exchange {
            name: "create without Authorization (401, undocumented; hand-built)",
            operation: "create",
            built_by: "hand",
            request_valid: false,
            expect_status: 401,
            expect_code: Some("authentication_invalid"),
        },
        no_key,
    )?;

    // The lookup, GET /users: found, empty, by external id, paged, the
    // default page of 10, and each refusal.
    server.insert_user(
        UserSpec::new()
            .email("ann@example.com")
            .email("Ann.Work@Example.com")
            .external_id("crm-42")
            .names("Ann", "Example"),
    );
    server.insert_user(UserSpec::new().email("test+1@example.com"));
    for i in 0..14 {
        server.insert_user(UserSpec::new().email(format!("bulk{i}@example.com")));
    }
    // Lookups the SDK does not build (no limit, or one it refuses to send) are built by
    // hand from an SDK lookup, with another query.
    let by_hand = |query: &str| -> Result<Request<Vec<u8>>, String> {
        let mut request = built(ListUsers::by_email_addresses(["x@example.com"]), &config)?;
        *request.uri_mut() = format!("{}/users?{query}", config.base_url())
            .parse()
            .map_err(|e| format!("{query}: {e}"))?;
        Ok(request)
    };
    let bulk: Vec<String> = (0..14).map(|i| format!("bulk{i}@example.com")).collect();
    let many: Vec<String> = (0..101)
        .map(|i| format!("email_address=nobody{i}%40example.com"))
        .collect();
    let lookups: Vec<LookupCase> = vec![
        (
            "lookup by email addresses, one in another case, one with +",
            built(
                ListUsers::by_email_addresses(["ANN@example.com", "test+1@example.com"]),
                &config,
            )?,
            "sdk",
            true,
            200,
            None,
        ),
        (
            "lookup that finds no one",
            built(
                ListUsers::by_email_addresses(["nobody@example.com"]),
                &config,
            )?,
            "sdk",
            true,
            200,
            None,
        ),
        (
            "lookup by external id",
            built(ListUsers::by_external_ids(["crm-42"]), &config)?,
            "sdk",
            true,
            200,
            None,
        ),
        (
            "lookup of the second page of 5",
            built(
                ListUsers::by_email_addresses(bulk.clone())
                    .with_limit(5)
                    .with_offset(5),
                &config,
            )?,
            "sdk",
            true,
            200,
            None,
        ),
        (
            "lookup without limit gets the default page of 10",
            by_hand(
                &bulk
                    .iter()
                    .map(|a| format!("email_address={}", a.replace('@', "%40")))
                    .collect::<Vec<_>>()
                    .join("&"),
            )?,
            "hand",
            true,
            200,
            None,
        ),
        (
            "lookup of 101 addresses (422; the description says 100 only in prose)",
            by_hand(&many.join("&"))?,
            "hand",
            true,
            422,
            Some("form_param_value_invalid"),
        ),
        (
            "lookup with limit 0 (422)",
            by_hand("email_address=ann%40example.com&limit=0")?,
            "hand",
            false,
            422,
            Some("form_param_value_invalid"),
        ),
        (
            "lookup with limit 501 (422)",
            by_hand("email_address=ann%40example.com&limit=501")?,
            "hand",
            false,
            422,
            Some("form_param_value_invalid"),
        ),
        (
            "lookup with offset -1 (422)",
            by_hand("email_address=ann%40example.com&limit=1&offset=-1")?,
            "hand",
            false,
            422,
            Some("form_param_value_invalid"),
        ),
        (
            "lookup with a parameter clerk-mock does not implement (400)",
            by_hand("username=ann&limit=1")?,
            "hand",
            true,
            400,
            Some("clerk_mock_unsupported_parameter"),
        ),
        (
            "lookup with a malformed query (400)",
            by_hand("email_address=%zz&limit=1")?,
            "hand",
            false,
            400,
            Some("malformed_query"),
        ),
        (
            "lookup with a wrong key (401)",
            built(
                ListUsers::by_email_addresses(["ann@example.com"]),
                &wrong_key,
            )?,
            "sdk",
            true,
            401,
            Some("authentication_invalid"),
        ),
    ];
    for (name, request, built_by, request_valid, status, code) in lookups {
        exchange(
            Exchange {
                name,
                operation: "list_users",
                built_by,
                request_valid,
                expect_status: status,
                expect_code: code,
            },
            request,
        )?;
    }
    Ok(out)
}
