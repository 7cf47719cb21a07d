//! The shared scenario table (crates/clerk-scenarios), run through
//! clerk-async-std twice: under async-std's executor and under smol's. No
//! tokio runtime exists in this process; every call checks.

use clerk_async_std::{Client, Config, EmailMatch, Error, Operation};

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

            fn send<O>(client: &Client, operation: O) -> Result<O::Output, Error>
            where
                O: Operation + Send + 'static,
                O::Output: Send + 'static,
            {
                $block_on(without_tokio(client.send(operation)))
            }

            const CANCELLABLE: bool = true;

            fn send_cancelled_after<O>(
                client: &Client,
                operation: O,
                patience: std::time::Duration,
            ) -> Option<Result<O::Output, Error>>
            where
                O: Operation + Send + 'static,
                O::Output: Send + 'static,
            {
                $block_on(without_tokio(async {
                    async_std::future::timeout(patience, client.send(operation))
                        .await
                        .ok()
                }))
            }

            fn send_concurrently<O>(
                client: &Client,
                operations: Vec<O>,
            ) -> Vec<Result<O::Output, Error>>
            where
                O: Operation + Send + 'static,
                O::Output: Send + 'static,
            {
                $block_on(without_tokio(async {
                    let tasks: Vec<_> = operations
                        .into_iter()
                        .map(|o| {
                            let client = client.clone();
                            $spawn(async move { client.send(o).await })
                        })
                        .collect();
                    let mut results = Vec::with_capacity(tasks.len());
                    for task in tasks {
                        results.push(task.await);
                    }
                    results
                }))
            }

            fn find_users_by_email(
                client: &Client,
                addresses: &[String],
            ) -> Result<Vec<EmailMatch>, Error> {
                $block_on(without_tokio(client.find_users_by_email(addresses)))
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
