//! Changes proposed for the adapters' sources, built here from their public
//! API so their effect can be measured before anyone applies them (see
//! BENCHMARKS.md, "What was found").

use std::net::{IpAddr, SocketAddr};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// ureq resolves the host on every call, before it looks in its pool, and
/// with any timeout set (clerk-ureq sets resolve, connect and global) its
/// `DefaultResolver` spawns a thread per lookup so it can give up on time.
/// This resolver answers an IP-literal host at once, without a thread or a
/// lookup; names go to the `DefaultResolver` as before.
#[derive(Debug, Default)]
pub struct LiteralFirstResolver {
    inner: DefaultResolver,
}

impl Resolver for LiteralFirstResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(authority) = uri.authority() {
            let host = authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']');
            if let Ok(ip) = host.parse::<IpAddr>() {
                let https = uri.scheme_str() == Some("https");
                let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
                let mut addrs = self.empty();
                addrs.push(SocketAddr::new(ip, port));
                return Ok(addrs);
            }
        }
        self.inner.resolve(uri, config, timeout)
    }
}

/// An agent configured as `clerk_ureq::Client::new` configures its own
/// (same TLS, pool and per-call settings), with [`LiteralFirstResolver`].
pub fn ureq_agent_with_literal_resolver(config: &clerk_core::Config) -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::WebPki)
        .build();
    let agent_config = ureq::Agent::config_builder()
        .tls_config(tls)
        .https_only(false)
        .proxy(None)
        .max_idle_connections(32)
        .max_idle_connections_per_host(32)
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .save_redirect_history(false)
        .accept_encoding("")
        .timeout_global(Some(config.timeout()))
        .timeout_resolve(Some(config.connect_timeout()))
        .timeout_connect(Some(config.connect_timeout()))
        .build();
    ureq::Agent::with_parts(
        agent_config,
        DefaultConnector::default(),
        LiteralFirstResolver::default(),
    )
}

/// A reqwest client configured as `clerk_reqwest::Client::new` configures
/// its own, except for `pool_max_idle_per_host`, left at reqwest's default
/// (no cap) instead of 32: with more calls in flight than the cap, every
/// call past it closes its connection and a later one opens a new one.
pub fn reqwest_client_without_idle_cap(config: &clerk_core::Config) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .no_proxy()
        .http1_only()
        .connect_timeout(config.connect_timeout())
        .timeout(config.timeout())
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("a reqwest client")
}
