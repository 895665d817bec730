//! Resolving webhook hosts: the system's resolver, or (`WEBHOOK_DNS_SERVER`)
//! a given DNS server. Both the API (at registration) and the worker (for
//! every connection) resolve here and check each address against the
//! outbound policy (domain/webhook_url.rs). Nothing is cached by this
//! resolver: an answer that changed since registration is seen.

use crate::error::{Error, Result};
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

#[derive(Clone)]
pub enum HostResolver {
    /// getaddrinfo, through tokio (production default).
    System,
    /// A given server (a private resolver, or the tests' own DNS server).
    Server(Arc<TokioResolver>),
}

impl HostResolver {
    pub fn new(server: Option<SocketAddr>) -> Result<Self> {
        let Some(addr) = server else { return Ok(Self::System) };
        let mut ns = NameServerConfig::udp(addr.ip());
        for c in &mut ns.connections {
            c.port = addr.port();
        }
        let config = ResolverConfig::from_parts(None, vec![], vec![ns]);
        let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        builder.options_mut().cache_size = 0;
        let resolver = builder.build().map_err(|e| Error::Config(format!("WEBHOOK_DNS_SERVER: {e}")))?;
        Ok(Self::Server(Arc::new(resolver)))
    }

    /// The addresses `host` resolves to (an IP literal is itself).
    pub async fn resolve(&self, host: &str) -> std::result::Result<Vec<IpAddr>, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        match self {
            Self::System => tokio::net::lookup_host((host, 0))
                .await
                .map(|addrs| addrs.map(|a| a.ip()).collect())
                .map_err(|e| format!("{host} does not resolve: {e}")),
            Self::Server(resolver) => resolver
                .lookup_ip(host)
                .await
                .map(|answer| answer.iter().collect())
                .map_err(|e| format!("{host} does not resolve: {e}")),
        }
    }
}
