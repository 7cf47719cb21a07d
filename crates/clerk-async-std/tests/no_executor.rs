//! A binary of its own: whether async-std's executor threads were started
//! is a fact about the whole process.

use clerk_async_std::{Client, CreateSignInToken};
use clerk_mock::MockServer;

/// Calls awaited under smol, connections pooled and left to expire: none
/// of it starts async-std's executor, whose threads would otherwise take
/// turns with the caller at the reactor. The idle connections are closed on
/// time by the crate's own thread.
#[cfg(target_os = "linux")]
#[test]
fn calls_under_smol_start_no_async_std_executor_thread() {
    let server = MockServer::start();
    let user = server.create_user();
    let client = Client::new(clerk_scenarios::default_config(&server)).unwrap();
    smol::block_on(async {
        for _ in 0..5 {
            client
                .create_sign_in_token(CreateSignInToken::new(&user))
                .await
                .unwrap();
        }
    });
    let names = clerk_scenarios::thread_names();
    assert!(
        !names.iter().any(|n| n.starts_with("async-std")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "clerk-idle"), "{names:?}");
}
