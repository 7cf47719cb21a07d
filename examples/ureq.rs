//! The blocking client: create a sign-in token, then revoke it.
//!
//! ```sh
//! CLERK_SECRET_KEY=sk_test_… CLERK_USER_ID=user_… cargo run --example ureq
//! ```
//! Without `CLERK_SECRET_KEY` it runs against the embedded stand-in server.

use std::time::Duration;

use clerk_ureq::{Client, CreateSignInToken};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A Config from the environment, or the stand-in server's (see lib.rs).
    let target = clerk_examples::Target::from_env()?;

    let client = Client::new(target.config.clone())?;
    let token = client.create_sign_in_token(
        CreateSignInToken::new(&target.user_id).with_expires_in(Duration::from_secs(600)),
    )?;
    println!("created {}", clerk_examples::summary(&token));

    let revoked = client.revoke_sign_in_token(&token.id)?;
    println!("revoked {}", clerk_examples::summary(&revoked));
    Ok(())
}
