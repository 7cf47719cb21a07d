//! The shared scenario table (crates/clerk-scenarios), run through
//! clerk-reqwest on a multi-threaded tokio runtime.

use std::sync::OnceLock;

use clerk_reqwest::{Client, Config, EmailMatch, Error, Operation};

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

    fn send<O>(client: &Client, operation: O) -> Result<O::Output, Error>
    where
        O: Operation + Send + 'static,
        O::Output: Send + 'static,
    {
        runtime().block_on(client.send(operation))
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
        runtime().block_on(async {
            tokio::time::timeout(patience, client.send(operation))
                .await
                .ok()
        })
    }

    fn send_concurrently<O>(client: &Client, operations: Vec<O>) -> Vec<Result<O::Output, Error>>
    where
        O: Operation + Send + 'static,
        O::Output: Send + 'static,
    {
        runtime().block_on(async {
            let tasks: Vec<_> = operations
                .into_iter()
                .map(|o| {
                    let client = client.clone();
                    tokio::spawn(async move { client.send(o).await })
                })
                .collect();
            let mut results = Vec::with_capacity(tasks.len());
            for task in tasks {
                results.push(task.await.expect("no panic"));
            }
            results
        })
    }

    fn find_users_by_email(
        client: &Client,
        addresses: &[String],
    ) -> Result<Vec<EmailMatch>, Error> {
        runtime().block_on(client.find_users_by_email(addresses))
    }
}

clerk_scenarios::scenario_tests!(Reqwest);
