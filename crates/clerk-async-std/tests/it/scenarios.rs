//! The shared scenario table (crates/clerk-scenarios), run through
//! clerk-async-std twice: under async-std's executor and under smol's. No
//! tokio runtime exists in this process; every call checks.

use clerk_async_std::{Client, Config, CreateSignInToken, Error, SignInToken};

use crate::without_tokio;

macro_rules! driver {
    ($name:ident, $agent:literal, $block_on:path, $spawn:path) => {
        pub(crate) struct $name;

        impl clerk_scenarios::Driver for $name {
            type Client = Client;
            const NAME: &'static str = $agent;

            fn client(config: Config) -> Client {
                Client::new(config).expect("a client")
            }

            fn client_trusting(config: Config, certificate_der: &[u8]) -> Client {
                let tls = clerk_scenarios::tls::client_config_trusting(certificate_der);
                Client::with_tls_config(config, tls).expect("a client")
            }

            fn create(client: &Client, request: CreateSignInToken) -> Result<SignInToken, Error> {
                $block_on(without_tokio(client.create_sign_in_token(request)))
            }

            fn revoke(client: &Client, id: &str) -> Result<SignInToken, Error> {
                $block_on(without_tokio(client.revoke_sign_in_token(id)))
            }

            const CANCELLABLE: bool = true;

            fn create_cancelled_after(
                client: &Client,
                request: CreateSignInToken,
                patience: std::time::Duration,
            ) -> Option<Result<SignInToken, Error>> {
                $block_on(without_tokio(async {
                    async_std::future::timeout(patience, client.create_sign_in_token(request))
                        .await
                        .ok()
                }))
            }

            fn create_concurrently(
                client: &Client,
                requests: Vec<CreateSignInToken>,
            ) -> Vec<Result<SignInToken, Error>> {
                $block_on(without_tokio(async {
                    let tasks: Vec<_> = requests
                        .into_iter()
                        .map(|r| {
                            let client = client.clone();
                            $spawn(async move { client.create_sign_in_token(r).await })
                        })
                        .collect();
                    let mut results = Vec::with_capacity(tasks.len());
                    for task in tasks {
                        results.push(task.await);
                    }
                    results
                }))
            }
        }
    };
}

driver!(
    AsyncStd,
    "clerk-async-std/",
    async_std::task::block_on,
    async_std::task::spawn
);
driver!(Smol, "clerk-async-std/", smol::block_on, smol::spawn);

mod on_async_std {
    clerk_scenarios::scenario_tests!(super::AsyncStd);
}

mod on_smol {
    clerk_scenarios::scenario_tests!(super::Smol);
}
