//! Creates one sign-in token with clerk-reqwest and prints its id.
fn main() -> Result<(), clerk_reqwest::Error> {
    let key = std::env::var("CLERK_SECRET_KEY").unwrap_or_else(|_| "sk_test_x".into());
    let url = std::env::var("CLERK_API_URL").unwrap_or_else(|_| "http://127.0.0.1:4010/v1".into());
    let client = clerk_reqwest::Client::new(clerk_reqwest::Config::new(key)?.with_base_url(&url)?)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let token = runtime.block_on(client.create_sign_in_token(
        clerk_reqwest::CreateSignInToken::new("user_123").with_expires_in_seconds(600),
    ))?;
    println!("{}", token.id);
    Ok(())
}
