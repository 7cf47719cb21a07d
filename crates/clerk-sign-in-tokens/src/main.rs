//! The `clerk-sign-in-tokens` command; see the library's documentation.

fn main() -> std::process::ExitCode {
    clerk_sign_in_tokens::main()
}
