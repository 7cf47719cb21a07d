//! Creates one sign-in token with clerk-rs and prints its id.
use clerk_rs::apis::sign_in_tokens_api::create_sign_in_token;
use clerk_rs::models::CreateSignInTokenRequest;

fn main() {
    let key = std::env::var("CLERK_SECRET_KEY").unwrap_or_else(|_| "sk_test_x".into());
    let url = std::env::var("CLERK_API_URL").unwrap_or_else(|_| "http://127.0.0.1:4010/v1".into());
    let configuration = clerk_rs::ClerkConfiguration::new(key).with_base_path(url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut request = CreateSignInTokenRequest::new("user_123".to_owned());
    request.expires_in_seconds = Some(Some(600));
    match runtime.block_on(create_sign_in_token(&configuration, Some(request))) {
        Ok(token) => println!("{}", token.id),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
