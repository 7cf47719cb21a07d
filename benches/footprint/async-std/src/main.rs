//! Creates one sign-in token with clerk-async-std and prints its id.
fn main() -> Result<(), clerk_async_std::Error> {
    let key = std::env::var("CLERK_SECRET_KEY").unwrap_or_else(|_| "sk_test_x".into());
    let url = std::env::var("CLERK_API_URL").unwrap_or_else(|_| "http://127.0.0.1:4010/v1".into());
    let client =
        clerk_async_std::Client::new(clerk_async_std::Config::new(key)?.with_base_url(&url)?)?;
    let token = async_std::task::block_on(client.create_sign_in_token(
        clerk_async_std::CreateSignInToken::new("user_123").with_expires_in_seconds(600),
    ))?;
    println!("{}", token.id);
    Ok(())
}
