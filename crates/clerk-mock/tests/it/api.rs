//! The Clerk behaviour of both operations.

use clerk_mock::{DEFAULT_EXPIRES_IN_SECONDS, MockServer};
use serde_json::json;

use crate::client::*;

#[test]
fn create_returns_a_pending_sign_in_token() {
    let server = MockServer::start();
    let user = server.create_user();
    assert_clerk_id(&user, "user");

    let reply = create_for(&server, &user);
    let body = assert_sign_in_token(&reply);
    assert_eq!(body["status"], "pending");
    assert_eq!(body["user_id"], user.as_str());
    let token = body["token"].as_str().unwrap();
    assert_jwt_like(token);
    assert_eq!(
        body["url"],
        format!("https://clerk-mock.accounts.dev/v1/tickets/accept?ticket={token}")
    );
    assert_eq!(body["created_at"], body["updated_at"]);
    assert_eq!(reply.header("connection"), Some("keep-alive"));
    assert!(reply.header("clerk-trace-id").is_none());

    let id = body["id"].as_str().unwrap();
    let stored = server.token(id).unwrap();
    assert_eq!(stored.status, "pending");
    assert_eq!(stored.token, token);
    assert_eq!(stored.org_id, None);
    assert_eq!(
        stored.expires_at - stored.created_at,
        DEFAULT_EXPIRES_IN_SECONDS * 1000
    );
    assert_eq!(body["created_at"].as_u64(), Some(stored.created_at));
    assert_eq!(server.token_status(id).as_deref(), Some("pending"));
    // Debug of the snapshot hides the credential.
    assert!(!format!("{stored:?}").contains(token));
}

#[test]
fn tokens_and_ids_are_unique() {
    let server = MockServer::start();
    let user = server.create_user();
    assert_ne!(user, server.create_user());
    let a = assert_sign_in_token(&create_for(&server, &user));
    let b = assert_sign_in_token(&create_for(&server, &user));
    assert_ne!(a["id"], b["id"]);
    assert_ne!(a["token"], b["token"]);
    assert_eq!(server.tokens().len(), 2);
    assert_eq!(server.tokens()[0].id, a["id"].as_str().unwrap());
}

#[test]
fn optional_fields_are_honoured_and_may_be_null() {
    let server = MockServer::builder()
        .instance_host("happy-hippo-1.clerk.accounts.dev")
        .start();
    let user = server.create_user();
    server.add_organization("org_1", &[&user]);

    let body = assert_sign_in_token(&create(
        &server,
        &json!({"user_id": user, "expires_in_seconds": 60, "org_id": "org_1", "extra": true})
            .to_string(),
    ));
    let stored = server.token(body["id"].as_str().unwrap()).unwrap();
    assert_eq!(stored.expires_at - stored.created_at, 60_000);
    assert_eq!(stored.org_id.as_deref(), Some("org_1"));
    assert!(
        body["url"]
            .as_str()
            .unwrap()
            .starts_with("https://happy-hippo-1.clerk.accounts.dev/v1/tickets/accept?ticket=ey")
    );

    let body = assert_sign_in_token(&create(
        &server,
        &json!({"user_id": user, "expires_in_seconds": null, "org_id": null}).to_string(),
    ));
    let stored = server.token(body["id"].as_str().unwrap()).unwrap();
    assert_eq!(
        stored.expires_at - stored.created_at,
        DEFAULT_EXPIRES_IN_SECONDS * 1000
    );
    assert_eq!(stored.org_id, None);
}

#[test]
fn organization_must_exist_and_have_the_user() {
    let server = MockServer::start();
    let member = server.create_user();
    let outsider = server.create_user();
    server.add_organization("org_a", &[&member]);

    for (user, org) in [
        (&outsider, "org_a"),
        (&member, "org_unknown"),
        (&member, ""),
    ] {
        let reply = create(
            &server,
            &json!({"user_id": user, "org_id": org}).to_string(),
        );
        let error = assert_clerk_error(&reply, 422, "form_param_value_invalid");
        assert_eq!(error["meta"], json!({"param_name": "org_id"}));
    }
    assert!(server.tokens().is_empty());
}

#[test]
fn validation_errors_are_422_with_param_names() {
    let server = MockServer::start();
    let user = server.create_user();
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        ("not json".into(), "form_param_format_invalid", None),
        ("[1,2]".into(), "form_param_format_invalid", None),
        ("\"user\"".into(), "form_param_format_invalid", None),
        ("".into(), "form_param_missing", Some("user_id")),
        ("{}".into(), "form_param_missing", Some("user_id")),
        (
            r#"{"user_id":null}"#.into(),
            "form_param_missing",
            Some("user_id"),
        ),
        (
            r#"{"user_id":""}"#.into(),
            "form_param_missing",
            Some("user_id"),
        ),
        (
            r#"{"user_id":5}"#.into(),
            "form_param_value_invalid",
            Some("user_id"),
        ),
        (
            json!({"user_id": user, "expires_in_seconds": 0}).to_string(),
            "form_param_value_invalid",
            Some("expires_in_seconds"),
        ),
        (
            json!({"user_id": user, "expires_in_seconds": -1}).to_string(),
            "form_param_value_invalid",
            Some("expires_in_seconds"),
        ),
        (
            json!({"user_id": user, "expires_in_seconds": 1.5}).to_string(),
            "form_param_value_invalid",
            Some("expires_in_seconds"),
        ),
        (
            json!({"user_id": user, "expires_in_seconds": "60"}).to_string(),
            "form_param_value_invalid",
            Some("expires_in_seconds"),
        ),
        (
            json!({"user_id": user, "org_id": 7}).to_string(),
            "form_param_value_invalid",
            Some("org_id"),
        ),
    ];
    let mut client = Client::connect(&server);
    for (body, code, param) in cases {
        let reply = client.create(&body);
        let error = assert_clerk_error(&reply, 422, code);
        match param {
            Some(param) => assert_eq!(error["meta"], json!({"param_name": param}), "{body}"),
            None => assert!(error.get("meta").is_none(), "{body}"),
        }
    }
    // Validation errors leave the connection usable and create nothing.
    assert!(server.tokens().is_empty());
    assert_eq!(server.connections_accepted(), 1);
    // The smallest lifetime is fine.
    let body = assert_sign_in_token(
        &client.create(&json!({"user_id": user, "expires_in_seconds": 1}).to_string()),
    );
    assert_eq!(body["status"], "pending");
}

#[test]
fn unknown_user_and_unknown_token_are_404() {
    let server = MockServer::start();
    let error = assert_clerk_error(
        &create_for(&server, "user_nobody"),
        404,
        "resource_not_found",
    );
    assert!(
        error["long_message"]
            .as_str()
            .unwrap()
            .contains("user_nobody")
    );
    assert_clerk_error(&revoke(&server, "sit_nothing"), 404, "resource_not_found");
    assert_clerk_error(&revoke(&server, ""), 404, "resource_not_found");
    // A registered user by chosen id works.
    server.add_user("user_nobody");
    assert_sign_in_token(&create_for(&server, "user_nobody"));
}

#[test]
fn revoke_lifecycle() {
    let server = MockServer::start();
    let user = server.create_user();
    let created = assert_sign_in_token(&create_for(&server, &user));
    let id = created["id"].as_str().unwrap();

    let reply = revoke(&server, id);
    let revoked = assert_sign_in_token(&reply);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["id"], id);
    assert_eq!(revoked["user_id"], user.as_str());
    assert!(revoked.get("token").is_none(), "{revoked}");
    assert_eq!(revoked.get("url"), Some(&serde_json::Value::Null));
    assert_eq!(revoked["created_at"], created["created_at"]);
    assert!(revoked["updated_at"].as_u64() > created["updated_at"].as_u64());
    assert_eq!(server.token_status(id).as_deref(), Some("revoked"));
    // A revoked token cannot be used to sign in.
    assert!(!server.accept_token(id));

    let error = assert_clerk_error(
        &revoke(&server, id),
        400,
        "sign_in_token_cannot_be_revoked_code",
    );
    assert!(error["long_message"].as_str().unwrap().contains("revoked"));
}

#[test]
fn an_accepted_token_cannot_be_revoked() {
    let server = MockServer::start();
    let user = server.create_user();
    let created = assert_sign_in_token(&create_for(&server, &user));
    let id = created["id"].as_str().unwrap();
    assert!(server.accept_token(id));
    assert!(!server.accept_token(id));
    assert_eq!(server.token_status(id).as_deref(), Some("accepted"));
    let error = assert_clerk_error(
        &revoke(&server, id),
        400,
        "sign_in_token_cannot_be_revoked_code",
    );
    assert!(error["long_message"].as_str().unwrap().contains("accepted"));
}

#[test]
fn the_token_id_is_one_percent_decoded_segment() {
    let server = MockServer::start();
    // `sit%2Fx` names the token `sit/x`, not a longer path.
    let error = assert_clerk_error(&revoke(&server, "sit%2Fx"), 404, "resource_not_found");
    assert!(
        error["long_message"]
            .as_str()
            .unwrap()
            .contains("id sit/x."),
        "{error}"
    );
    // A raw `/` splits the path: that is another (unknown) route.
    let reply = call(&server, "POST", "/v1/sign_in_tokens/sit/x/revoke", "");
    let error = assert_clerk_error(&reply, 404, "resource_not_found");
    assert!(error["long_message"].as_str().unwrap().contains("route"));

    // An encoded real id reaches the token.
    let user = server.create_user();
    let created = assert_sign_in_token(&create_for(&server, &user));
    let id = created["id"].as_str().unwrap();
    let encoded = format!("%{:02X}{}", b's', &id[1..]);
    let revoked = assert_sign_in_token(&revoke(&server, &encoded));
    assert_eq!(revoked["id"], id);
    // The log keeps the target as sent.
    let last = server.requests().pop().unwrap();
    assert_eq!(last.path, format!("/v1/sign_in_tokens/{encoded}/revoke"));
}

#[test]
fn authentication_is_checked_first() {
    let server = MockServer::builder().secret_key("sk_test_right").start();
    let user = server.create_user();
    let body = json!({"user_id": user}).to_string();
    let headers: [&[&str]; 5] = [
        &[],
        &["Authorization: Bearer sk_test_wrong"],
        &["Authorization: Basic c2tfdGVzdF9yaWdodA=="],
        &["Authorization: sk_test_right"],
        &[
            "Authorization: Bearer sk_test_right",
            "Authorization: Bearer sk_test_right",
        ],
    ];
    for extra in headers {
        let mut client = Client::connect(&server);
        client.send("POST", "/v1/sign_in_tokens", extra, body.as_bytes());
        let reply = client.read_reply().unwrap();
        assert_clerk_error(&reply, 401, "authentication_invalid");
        assert!(!reply.text().contains("sk_test_"));
    }
    // Even unknown paths need the key first.
    let mut client = Client::connect(&server);
    client.send("GET", "/nowhere", &[], b"");
    assert_clerk_error(&client.read_reply().unwrap(), 401, "authentication_invalid");
    assert!(server.tokens().is_empty());
    // The scheme is case-insensitive.
    let mut client = Client::connect(&server);
    client.send(
        "POST",
        "/v1/sign_in_tokens",
        &["authorization: bearer sk_test_right"],
        body.as_bytes(),
    );
    assert_sign_in_token(&client.read_reply().unwrap());
}

#[test]
fn other_routes_and_methods() {
    let server = MockServer::start();
    let mut client = Client::connect(&server);
    for path in [
        "/sign_in_tokens",
        "/v1",
        "/v1/",
        "/v1/users/",
        "/v1/users/user_x",
        "/v1/sign_in_tokens/",
        "/v2/sign_in_tokens",
        "/v1/sign_in_tokens/sit_x/accept",
    ] {
        assert_clerk_error(&client.call("POST", path, "{}"), 404, "resource_not_found");
    }
    // A 405 names the route's own methods, in the `Allow` header and in the message.
    for (method, path, allow) in [
        ("GET", "/v1/sign_in_tokens", "POST"),
        ("PUT", "/v1/sign_in_tokens", "POST"),
        ("GET", "/v1/sign_in_tokens?limit=1", "POST"),
        ("DELETE", "/v1/sign_in_tokens/sit_x/revoke", "POST"),
        ("POST", "/v1/users", "GET, HEAD"),
        ("DELETE", "/v1/users?email_address=a%40b.c", "GET, HEAD"),
        ("PATCH", "/v1/users", "GET, HEAD"),
    ] {
        let reply = client.call(method, path, "");
        let error = assert_clerk_error(&reply, 405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
        let message = error["long_message"].as_str().unwrap();
        assert!(
            message.ends_with(&format!("allowed: {allow}.")),
            "{message}"
        );
        assert!(
            !message.contains('?'),
            "the query is not the path: {message}"
        );
    }
    // HEAD gets the head only, on a connection that stays usable.
    client.send("HEAD", "/v1/sign_in_tokens", &[], b"");
    let (status, headers) = client.read_head().unwrap();
    assert_eq!(status, 401);
    assert!(headers.iter().any(|(n, _)| n == "Content-Length"));
    // A query string and the absolute form are understood.
    let user = server.create_user();
    let body = json!({"user_id": user}).to_string();
    assert_sign_in_token(&client.call("POST", "/v1/sign_in_tokens?debug=1", &body));
    let absolute = format!("http://{}/v1/sign_in_tokens", server.addr());
    assert_sign_in_token(&client.call("POST", &absolute, &body));
    assert_eq!(server.connections_accepted(), 1);
}
