//! The shared scenario table (crates/clerk-scenarios), run through
//! clerk-reqwest on a multi-threaded tokio runtime.

use std::sync::OnceLock;

use clerk_reqwest::{Client, Config, CreateSignInToken, Error, SignInToken};

struct Reqwest;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

impl clerk_scenarios::Driver for Reqwest {
    type Client = Client;
    const NAME: &'static str = "clerk-reqwest/";

    fn client(config: Config) -> Client {
        let _guard = runtime().enter();
        Client::new(config).expect("a client")
    }

    fn client_trusting(config: Config, certificate_der: &[u8]) -> Client {
        let _guard = runtime().enter();
        let builder = clerk_reqwest::reqwest::Client::builder()
            .tls_backend_preconfigured(clerk_scenarios::tls::client_config_trusting(
                certificate_der,
            ))
            .no_proxy();
        Client::with_http_client_builder(config, builder).expect("a client")
    }

    fn create(client: &Client, request: CreateSignInToken) -> Result<SignInToken, Error> {
        runtime().block_on(client.create_sign_in_token(request))
    }

    fn revoke(client: &Client, id: &str) -> Result<SignInToken, Error> {
        runtime().block_on(client.revoke_sign_in_token(id))
    }

    const CANCELLABLE: bool = true;

    fn create_cancelled_after(
        client: &Client,
        request: CreateSignInToken,
        patience: std::time::Duration,
    ) -> Option<Result<SignInToken, Error>> {
        runtime().block_on(async {
            tokio::time::timeout(patience, client.create_sign_in_token(request))
                .await
                .ok()
        })
    }

    fn create_concurrently(
        client: &Client,
        requests: Vec<CreateSignInToken>,
    ) -> Vec<Result<SignInToken, Error>> {
        runtime().block_on(async {
            let tasks: Vec<_> = requests
                .into_iter()
                .map(|r| {
                    let client = client.clone();
                    tokio::spawn(async move { client.create_sign_in_token(r).await })
                })
                .collect();
            let mut results = Vec::with_capacity(tasks.len());
            for task in tasks {
                results.push(task.await.expect("no panic"));
            }
            results
        })
    }
}

clerk_scenarios::scenario_tests!(Reqwest);
