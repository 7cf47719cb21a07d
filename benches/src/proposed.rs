//! A change measured here but not made in the adapters, built from their
//! public API (BENCHMARKS.md, section 2, on clerk-ureq's resolver).

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
