//! The shared scenario table (crates/clerk-scenarios), run through clerk-ureq:
//! with `Client::new`'s agent, and (feature `unversioned-lazy-resolve`) with
//! one that looks the host up only for a new connection.

use clerk_ureq::ureq::Agent;
use clerk_ureq::ureq::tls::{Certificate, RootCerts, TlsConfig};
use clerk_ureq::{Client, Config, CreateSignInToken, Error, SignInToken};

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

    fn create(client: &Client, request: CreateSignInToken) -> Result<SignInToken, Error> {
        client.create_sign_in_token(request)
    }

    fn revoke(client: &Client, id: &str) -> Result<SignInToken, Error> {
        client.revoke_sign_in_token(id)
    }

    // A blocking call cannot be cancelled: it runs to the end.
    const CANCELLABLE: bool = false;

    fn create_cancelled_after(
        client: &Client,
        request: CreateSignInToken,
        _patience: std::time::Duration,
    ) -> Option<Result<SignInToken, Error>> {
        Some(client.create_sign_in_token(request))
    }

    fn create_concurrently(
        client: &Client,
        requests: Vec<CreateSignInToken>,
    ) -> Vec<Result<SignInToken, Error>> {
        std::thread::scope(|s| {
            let handles: Vec<_> = requests
                .into_iter()
                .map(|r| s.spawn(move || client.create_sign_in_token(r)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        })
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

        fn create(client: &Client, request: CreateSignInToken) -> Result<SignInToken, Error> {
            Ureq::create(client, request)
        }

        fn revoke(client: &Client, id: &str) -> Result<SignInToken, Error> {
            Ureq::revoke(client, id)
        }

        const CANCELLABLE: bool = Ureq::CANCELLABLE;

        fn create_cancelled_after(
            client: &Client,
            request: CreateSignInToken,
            patience: std::time::Duration,
        ) -> Option<Result<SignInToken, Error>> {
            Ureq::create_cancelled_after(client, request, patience)
        }

        fn create_concurrently(
            client: &Client,
            requests: Vec<CreateSignInToken>,
        ) -> Vec<Result<SignInToken, Error>> {
            Ureq::create_concurrently(client, requests)
        }
    }

    clerk_scenarios::scenario_tests!(UreqLazyResolve);
}
