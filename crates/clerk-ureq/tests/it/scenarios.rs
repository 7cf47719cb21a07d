//! The shared scenario table (crates/clerk-scenarios), run through clerk-ureq:
//! with `Client::new`'s agent, and (feature `unversioned-lazy-resolve`) with
//! one that looks the host up only for a new connection.

use clerk_ureq::ureq::Agent;
use clerk_ureq::ureq::tls::{Certificate, RootCerts, TlsConfig};
use clerk_ureq::{Client, Config, EmailMatch, Error, Operation};

/// An agent config that trusts only `certificate_der`.
fn trusting(certificate_der: &[u8]) -> clerk_ureq::ureq::config::Config {
    let root = Certificate::from_der(certificate_der).to_owned();
    Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&[root]))
                .build(),
        )
        .proxy(None)
        .build()
}

struct Ureq;

impl clerk_scenarios::Driver for Ureq {
    type Client = Client;
    const NAME: &'static str = "clerk-ureq/";

    fn client(config: Config) -> Client {
        Client::new(config).expect("a client")
    }

    fn client_trusting(config: Config, certificate_der: &[u8]) -> Client {
        Client::with_agent(config, trusting(certificate_der).new_agent()).expect("a client")
    }

    fn send<O>(client: &Client, operation: O) -> Result<O::Output, Error>
    where
        O: Operation + Send + 'static,
        O::Output: Send + 'static,
    {
        client.send(operation)
    }

    // A blocking call cannot be cancelled: it runs to the end.
    const CANCELLABLE: bool = false;

    fn send_cancelled_after<O>(
        client: &Client,
        operation: O,
        _patience: std::time::Duration,
    ) -> Option<Result<O::Output, Error>>
    where
        O: Operation + Send + 'static,
        O::Output: Send + 'static,
    {
        Some(client.send(operation))
    }

    fn send_concurrently<O>(client: &Client, operations: Vec<O>) -> Vec<Result<O::Output, Error>>
    where
        O: Operation + Send + 'static,
        O::Output: Send + 'static,
    {
        std::thread::scope(|s| {
            let handles: Vec<_> = operations
                .into_iter()
                .map(|o| s.spawn(move || client.send(o)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        })
    }

    fn find_users_by_email(
        client: &Client,
        addresses: &[String],
    ) -> Result<Vec<EmailMatch>, Error> {
        client.find_users_by_email(addresses)
    }
}

clerk_scenarios::scenario_tests!(Ureq);

#[cfg(feature = "unversioned-lazy-resolve")]
mod lazy_resolve {
    use super::*;

    /// As [`Ureq`], with `Client::with_lazy_resolve` and
    /// `lazy_resolve::agent`.
    struct UreqLazyResolve;

    impl clerk_scenarios::Driver for UreqLazyResolve {
        type Client = Client;
        const NAME: &'static str = "clerk-ureq/";

        fn client(config: Config) -> Client {
            Client::with_lazy_resolve(config).expect("a client")
        }

        fn client_trusting(config: Config, certificate_der: &[u8]) -> Client {
            let agent = clerk_ureq::lazy_resolve::agent(trusting(certificate_der));
            Client::with_agent(config, agent).expect("a client")
        }

        fn send<O>(client: &Client, operation: O) -> Result<O::Output, Error>
        where
            O: Operation + Send + 'static,
            O::Output: Send + 'static,
        {
            Ureq::send(client, operation)
        }

        const CANCELLABLE: bool = Ureq::CANCELLABLE;

        fn send_cancelled_after<O>(
            client: &Client,
            operation: O,
            patience: std::time::Duration,
        ) -> Option<Result<O::Output, Error>>
        where
            O: Operation + Send + 'static,
            O::Output: Send + 'static,
        {
            Ureq::send_cancelled_after(client, operation, patience)
        }

        fn send_concurrently<O>(
            client: &Client,
            operations: Vec<O>,
        ) -> Vec<Result<O::Output, Error>>
        where
            O: Operation + Send + 'static,
            O::Output: Send + 'static,
        {
            Ureq::send_concurrently(client, operations)
        }

        fn find_users_by_email(
            client: &Client,
            addresses: &[String],
        ) -> Result<Vec<EmailMatch>, Error> {
            Ureq::find_users_by_email(client, addresses)
        }
    }

    clerk_scenarios::scenario_tests!(UreqLazyResolve);
}
