//! Runs one core operation N times, for instruction counts under callgrind
//! (which, unlike wall-clock time, don't drift with the machine's load).
//! `icount.sh` runs it twice per operation, N = 1000 and N = 11000, and
//! divides the difference by 10000: process start-up cancels out.
//!
//! `icount OPERATION N`; OPERATION is one of the names in `OPS`.

use std::hint::black_box;

use clerk_benches::{
    CREATE_RESPONSE, ERROR_RESPONSE, EXPIRES_IN_SECONDS, PlainErrors, PlainToken, SECRET_KEY,
    USER_ID, create_reply, error_reply, hand_built_request, hand_built_request_tuned,
};
use clerk_core::{Config, CreateSignInToken, Operation, parse_clerk_errors};

const BASE_URL: &str = "https://api.clerk.com/v1";

const OPS: &[&str] = &[
    "build_sdk",
    "build_by_hand",
    "build_by_hand_tuned",
    "parse_sdk",
    "parse_bare_serde",
    "error_sdk",
    "error_bare_serde",
    "error_sdk_whole_reply",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let config = Config::new(SECRET_KEY).unwrap();
    let authorization = format!("Bearer {SECRET_KEY}");
    let authorization_value = http::HeaderValue::from_str(&authorization).unwrap();
    let create = CreateSignInToken::new(USER_ID);
    let ok_reply = create_reply();
    let err_reply = error_reply();
    let run = |f: &mut dyn FnMut()| {
        for _ in 0..n {
            f();
        }
    };
    match op.as_str() {
        "build_sdk" => run(&mut || {
            let r = CreateSignInToken::new(black_box(USER_ID))
                .with_expires_in_seconds(EXPIRES_IN_SECONDS)
                .build_request(black_box(&config))
                .unwrap();
            drop(black_box(r));
        }),
        "build_by_hand" => run(&mut || {
            drop(black_box(hand_built_request(
                black_box(BASE_URL),
                black_box(&authorization),
            )));
        }),
        "build_by_hand_tuned" => run(&mut || {
            drop(black_box(hand_built_request_tuned(
                black_box(BASE_URL),
                black_box(&authorization_value),
            )));
        }),
        "parse_sdk" => run(&mut || {
            drop(black_box(
                create.parse_response(black_box(&ok_reply)).unwrap(),
            ));
        }),
        "parse_bare_serde" => run(&mut || {
            let t: PlainToken = serde_json::from_slice(black_box(CREATE_RESPONSE)).unwrap();
            drop(black_box(t));
        }),
        "error_sdk" => run(&mut || {
            drop(black_box(
                parse_clerk_errors(black_box(ERROR_RESPONSE)).unwrap(),
            ));
        }),
        "error_bare_serde" => run(&mut || {
            let e: PlainErrors = serde_json::from_slice(black_box(ERROR_RESPONSE)).unwrap();
            drop(black_box(e));
        }),
        "error_sdk_whole_reply" => run(&mut || {
            drop(black_box(
                create.parse_response(black_box(&err_reply)).unwrap_err(),
            ));
        }),
        _ => {
            eprintln!("usage: icount OPERATION N; OPERATION one of {OPS:?}");
            std::process::exit(2);
        }
    }
}
