//! Core, in process: clerk-core against the same work done by hand, side by
//! side in one run. Each measured closure includes dropping its result (the
//! whole cost a caller pays). Run: `cargo bench --bench core`.
//!
//! Pairs, SDK first:
//! - build: `CreateSignInToken::new(..).with_expires_in_seconds(..).build_request(&config)`
//!   against `http::Request::builder()` + `serde_json::to_vec` (and a tuned
//!   hand-built variant with pre-made header values);
//! - parse: `Operation::parse_response` of a 200 reply (387-byte SignInToken)
//!   against `serde_json::from_slice` into a plain struct with the same fields;
//! - error: `parse_clerk_errors` against `serde_json::from_slice` into plain
//!   structs with the same fields.

use clerk_benches::{
    CREATE_RESPONSE, ERROR_RESPONSE, EXPIRES_IN_SECONDS, PlainErrors, PlainToken, SECRET_KEY,
    USER_ID, create_reply, error_reply, hand_built_request, hand_built_request_tuned,
};
use clerk_core::{Config, CreateSignInToken, Operation, parse_clerk_errors};
use divan::{AllocProfiler, Bencher, black_box};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

const BASE_URL: &str = "https://api.clerk.com/v1";

fn main() {
    // More samples than divan's default 100, for stable medians; the
    // command line can still override.
    divan::Divan::default()
        .sample_count(1000)
        .config_with_args()
        .main();
}

mod build {
    use super::*;

    #[divan::bench]
    fn sdk(b: Bencher) {
        let config = Config::new(SECRET_KEY).unwrap();
        b.bench(|| {
            let request = CreateSignInToken::new(black_box(USER_ID))
                .with_expires_in_seconds(EXPIRES_IN_SECONDS)
                .build_request(black_box(&config))
                .unwrap();
            drop(black_box(request));
        });
    }

    #[divan::bench]
    fn by_hand(b: Bencher) {
        let authorization = format!("Bearer {SECRET_KEY}");
        b.bench(|| {
            let request = hand_built_request(black_box(BASE_URL), black_box(&authorization));
            drop(black_box(request));
        });
    }

    #[divan::bench]
    fn by_hand_tuned(b: Bencher) {
        let authorization = http::HeaderValue::from_str(&format!("Bearer {SECRET_KEY}")).unwrap();
        b.bench(|| {
            let request = hand_built_request_tuned(black_box(BASE_URL), black_box(&authorization));
            drop(black_box(request));
        });
    }
}

mod parse {
    use super::*;

    #[divan::bench]
    fn sdk(b: Bencher) {
        let op = CreateSignInToken::new(USER_ID);
        let reply = create_reply();
        b.bench(|| {
            let token = op.parse_response(black_box(&reply)).unwrap();
            drop(black_box(token));
        });
    }

    #[divan::bench]
    fn bare_serde(b: Bencher) {
        b.bench(|| {
            let token: PlainToken = serde_json::from_slice(black_box(CREATE_RESPONSE)).unwrap();
            drop(black_box(token));
        });
    }
}

mod error {
    use super::*;

    #[divan::bench]
    fn sdk(b: Bencher) {
        b.bench(|| {
            let errors = parse_clerk_errors(black_box(ERROR_RESPONSE)).unwrap();
            drop(black_box(errors));
        });
    }

    #[divan::bench]
    fn bare_serde(b: Bencher) {
        b.bench(|| {
            let errors: PlainErrors = serde_json::from_slice(black_box(ERROR_RESPONSE)).unwrap();
            drop(black_box(errors));
        });
    }

    /// For reference: the whole 422 reply into the SDK's typed `Error`
    /// (status, Clerk's errors, trace id, Retry-After).
    #[divan::bench]
    fn sdk_whole_reply(b: Bencher) {
        let op = CreateSignInToken::new(USER_ID);
        let reply = error_reply();
        b.bench(|| {
            let error = op.parse_response(black_box(&reply)).unwrap_err();
            drop(black_box(error));
        });
    }
}
