//! Where a webhook may point (docs/security.md, "Outbound requests"): the
//! URL's form, and for every address its host resolves to, the address class
//! and port. Checked when a webhook is registered and again for each
//! connection a delivery makes (so a name that resolved to a public address
//! at registration cannot be pointed inside later). Pure: resolving names is
//! the adapters' (`adapters/dns.rs`).
//!
//! Refused: loopback, private, link-local, CGNAT, benchmark (198.18.0.0/15),
//! IETF protocol assignments (192.0.0.0/24), documentation, reserved
//! (240.0.0.0/4), multicast and broadcast; IPv6 loopback, unspecified, ULA,
//! link-local, site-local, multicast, documentation and discard, and the
//! IPv4-mapped, IPv4-compatible, NAT64 (64:ff9b::/96; 64:ff9b:1::/48 is
//! local-use, refused whole), 6to4 (2002::/16) and Teredo (2001::/32) forms
//! with their embedded IPv4 checked like IPv4. Ports: 443 and 80 only. An
//! operator allow-list of `CIDR:port` entries (`WEBHOOK_ALLOW_LIST`) admits
//! exactly what it names and nothing else (the local stack: its receivers'
//! loopback ports).

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::Url;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlProblem {
    Invalid(String),
    Forbidden(String),
}

impl UrlProblem {
    pub fn message(&self) -> &str {
        match self {
            UrlProblem::Invalid(m) | UrlProblem::Forbidden(m) => m,
        }
    }
}

/// Why the outbound policy refuses a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address is of a class webhooks may not reach.
    Address { ip: IpAddr, class: &'static str },
    /// Not 443 or 80, and no allow-list entry names it.
    Port(u16),
}

impl Refusal {
    /// The reason without the address: what may leave the server when the
    /// address came from a DNS answer rather than from the caller
    /// (docs/security.md, "What errors say").
    pub fn without_address(&self) -> String {
        match self {
            Refusal::Address { class, .. } => format!("a {class} address"),
            Refusal::Port(port) => format!("port {port}, which is not allowed (443 or 80)"),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Address { ip, class } => write!(f, "{ip} is a {class} address"),
            Refusal::Port(port) => write!(f, "port {port} is not allowed (443 or 80)"),
        }
    }
}

/// Ports a webhook may use without an allow-list entry.
pub const ALLOWED_PORTS: [u16; 2] = [443, 80];

/// One allow-list entry: a network and a port range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    pub net: IpNet,
    pub ports: (u16, u16),
}

/// The outbound policy: the built-in rules plus the operator's allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    pub allow: Vec<AllowEntry>,
}

impl UrlPolicy {
    /// `CIDR:port` entries separated by commas; the port may be a range
    /// (`40000-40999`) or `*`; IPv6 networks in brackets (`[fd00::/8]:443`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut allow = Vec::new();
        for raw in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (net, ports) = raw.rsplit_once(':').ok_or_else(|| format!("`{raw}` is not CIDR:port"))?;
            let net = net.trim_start_matches('[').trim_end_matches(']');
            let net: IpNet = net.parse().map_err(|_| format!("`{raw}`: `{net}` is not a CIDR network"))?;
            let ports = match ports {
                "*" => (1, u16::MAX),
                p => match p.split_once('-') {
                    Some((a, b)) => (port(a, raw)?, port(b, raw)?),
                    None => (port(p, raw)?, port(p, raw)?),
                },
            };
            if ports.0 > ports.1 {
                return Err(format!("`{raw}`: the port range is empty"));
            }
            allow.push(AllowEntry { net, ports });
        }
        Ok(Self { allow })
    }

    fn allowed(&self, ip: IpAddr, port: u16) -> bool {
        self.allow.iter().any(|e| e.net.contains(&ip) && (e.ports.0..=e.ports.1).contains(&port))
    }

    /// Whether a connection to `ip:port` may be made; the refusal says why.
    pub fn permits(&self, ip: IpAddr, port: u16) -> Result<(), Refusal> {
        if self.allowed(ip, port) {
            return Ok(());
        }
        if let Some(class) = forbidden_class(ip) {
            return Err(Refusal::Address { ip, class });
        }
        if !ALLOWED_PORTS.contains(&port) {
            return Err(Refusal::Port(port));
        }
        Ok(())
    }

    /// The URL's form: http(s), a host, no credentials, at most 2,048 characters;
    /// an IP-literal host is checked here already.
    pub fn check_form(&self, raw: &str) -> Result<Url, UrlProblem> {
        if raw.len() > 2048 {
            return Err(UrlProblem::Invalid("`url` is longer than 2048 characters".into()));
        }
        let url = Url::parse(raw).map_err(|e| UrlProblem::Invalid(format!("`url` is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(UrlProblem::Invalid("`url` must use https".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlProblem::Invalid("`url` must not contain credentials".into()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(UrlProblem::Invalid("`url` must have a host".into()));
        }
        if let Some(ip) = literal_ip(&url) {
            // The address is the caller's own input: naming it tells nothing new.
            self.permits(ip, port_of(&url)).map_err(|why| UrlProblem::Forbidden(format!("`url`: {why}")))?;
        }
        Ok(url)
    }

    /// Every address the host resolved to must be permitted (any one inside
    /// refuses the URL: a client may connect to any of them).
    pub fn check_addresses(&self, url: &Url, addrs: &[IpAddr]) -> Result<(), UrlProblem> {
        if addrs.is_empty() {
            return Err(UrlProblem::Invalid("`url` host does not resolve".into()));
        }
        let port = port_of(url);
        for ip in addrs {
            // What a name resolves to inside the network stays in the server's
            // logs (the caller): the answer names only the address's class.
            self.permits(*ip, port)
                .map_err(|why| UrlProblem::Forbidden(format!("`url`'s host resolves to {}", why.without_address())))?;
        }
        Ok(())
    }
}

fn port(p: &str, raw: &str) -> Result<u16, String> {
    p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("`{raw}`: `{p}` is not a port"))
}

pub fn port_of(url: &Url) -> u16 {
    url.port_or_known_default().unwrap_or(443)
}

/// The host as an IP address, when the URL names one.
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    url.host_str()?.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// The class of a forbidden address, or None for a public one.
pub fn forbidden_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    const CLASSES: &[([u8; 4], u8, &str)] = &[
        ([0, 0, 0, 0], 8, "\"this network\""),
        ([10, 0, 0, 0], 8, "private"),
        ([100, 64, 0, 0], 10, "carrier-grade NAT"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 0, 0, 0], 24, "IETF protocol assignment"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "6to4 relay anycast"),
        ([192, 168, 0, 0], 16, "private"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    if ip == Ipv4Addr::BROADCAST {
        return Some("broadcast");
    }
    CLASSES.iter().find(|(net, prefix, _)| in_v4(ip, *net, *prefix)).map(|(_, _, class)| *class)
}

fn embedded_v4(bits: u128, shift: u32) -> Ipv4Addr {
    Ipv4Addr::from((bits >> shift) as u32)
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    let s = ip.segments();
    if ip.is_loopback() {
        return Some("loopback");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    // Forms that carry an IPv4 address: it decides.
    // ::ffff:a.b.c.d (IPv4-mapped), ::a.b.c.d (IPv4-compatible, deprecated),
    // 64:ff9b::/96 (NAT64): the IPv4 address is the last 32 bits.
    let last_32_is_v4 = matches!(bits >> 32, 0xffff | 0 | 0x0064_ff9b_0000_0000_0000_0000);
    let embedded = if last_32_is_v4 {
        Some(embedded_v4(bits, 0))
    } else if s[0] == 0x2002 {
        Some(embedded_v4(bits, 80)) // 2002:aabb:ccdd::/48, 6to4
    } else if s[0] == 0x2001 && s[1] == 0 {
        // Teredo: the server at bits 32-63, the client (inverted) in the last 32.
        let server = embedded_v4(bits, 64);
        let client = Ipv4Addr::from(!(bits as u32));
        return v4_class(server).or(v4_class(client)).map(|_| "Teredo address embedding an internal IPv4");
    } else {
        None
    };
    if let Some(v4) = embedded {
        return v4_class(v4).map(|_| "IPv6 address embedding an internal IPv4");
    }
    let net = |prefix: u32, value: u128| bits >> (128 - prefix) == value >> (128 - prefix);
    const NAT64_LOCAL: u128 = 0x0064_ff9b_0001 << 80;
    const DISCARD: u128 = 0x0100 << 112;
    const DOCUMENTATION: u128 = 0x2001_0db8 << 96;
    if net(48, NAT64_LOCAL) {
        Some("local-use NAT64")
    } else if net(7, 0xfc00 << 112) {
        Some("unique local")
    } else if net(10, 0xfe80 << 112) {
        Some("link-local")
    } else if net(10, 0xfec0 << 112) {
        Some("site-local")
    } else if net(8, 0xff00 << 112) {
        Some("multicast")
    } else if net(32, DOCUMENTATION) {
        Some("documentation")
    } else if net(64, DISCARD) {
        Some("discard")
    } else {
        None
    }
}

/// The table of addresses: each refused (with its class) or allowed. The
/// integration tests (tests/it/ssrf.rs) take the same table through the
/// API at registration and through the worker at delivery.
pub const ADDRESS_TABLE: &[(&str, bool)] = &[
    ("127.0.0.1", false),
    ("127.255.255.254", false),
    ("10.1.2.3", false),
    ("172.16.0.1", false),
    ("172.31.255.255", false),
    ("192.168.1.1", false),
    ("169.254.169.254", false),
    ("100.64.0.1", false),
    ("100.127.255.255", false),
    ("198.18.0.1", false),
    ("198.19.255.255", false),
    ("192.0.0.8", false),
    ("240.0.0.1", false),
    ("224.0.0.251", false),
    ("255.255.255.255", false),
    ("0.0.0.0", false),
    ("::1", false),
    ("::", false),
    ("fd00::1", false),
    ("fe80::1", false),
    ("ff02::1", false),
    ("::ffff:127.0.0.1", false),
    ("::ffff:10.0.0.1", false),
    ("::127.0.0.1", false),
    ("64:ff9b::a9fe:a9fe", false),
    ("64:ff9b:1::1", false),
    ("2002:7f00:1::1", false),
    ("2002:a9fe:a9fe::1", false),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", false),
    ("2001:db8::1", false),
    ("93.184.216.34", true),
    ("100.128.0.1", true),
    ("172.32.0.1", true),
    ("198.20.0.1", true),
    ("2606:2800:220:1::1", true),
    ("::ffff:93.184.216.34", true),
    ("64:ff9b::5db8:d822", true),
    ("2002:5db8:d822::1", true),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_table() {
        let policy = UrlPolicy::default();
        for (ip, allowed) in ADDRESS_TABLE {
            let verdict = policy.permits(ip.parse().unwrap(), 443);
            assert_eq!(verdict.is_ok(), *allowed, "{ip}: {verdict:?}");
        }
    }

    #[test]
    fn ports_and_the_allow_list() {
        let policy = UrlPolicy::default();
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        assert!(policy.permits(public, 443).is_ok() && policy.permits(public, 80).is_ok());
        assert!(policy.permits(public, 8080).is_err());
        let local = UrlPolicy::parse("127.0.0.1/32:38000-38999, [fd00::/8]:443").unwrap();
        assert!(local.permits("127.0.0.1".parse().unwrap(), 38123).is_ok());
        assert!(local.permits("127.0.0.1".parse().unwrap(), 39000).is_err(), "nothing else of loopback");
        assert!(local.permits("127.0.0.2".parse().unwrap(), 38123).is_err());
        assert!(local.permits("fd00::5".parse().unwrap(), 443).is_ok());
        assert!(local.permits("10.0.0.1".parse().unwrap(), 443).is_err());
        for bad in ["127.0.0.1", "nonsense:80", "10.0.0.0/8:0", "10.0.0.0/8:9-1", "10.0.0.0/33:80"] {
            assert!(UrlPolicy::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(UrlPolicy::parse("").unwrap(), UrlPolicy::default());
    }

    #[test]
    fn form_rules() {
        let policy = UrlPolicy::default();
        assert!(policy.check_form("https://example.com/hook").is_ok());
        assert!(policy.check_form("http://example.com/hook").is_ok(), "port 80");
        assert!(policy.check_form("ftp://example.com/hook").is_err());
        assert!(policy.check_form("https://user:pass@example.com/").is_err());
        assert!(policy.check_form("not a url").is_err());
        assert!(matches!(policy.check_form("https://[::ffff:127.0.0.1]/"), Err(UrlProblem::Forbidden(_))));
        assert!(matches!(policy.check_form("https://93.184.216.34:8443/"), Err(UrlProblem::Forbidden(_))));
        let url = policy.check_form("https://hooks.example.com/x").unwrap();
        assert!(policy.check_addresses(&url, &["93.184.216.34".parse().unwrap()]).is_ok());
        let mixed = ["93.184.216.34".parse().unwrap(), "10.0.0.1".parse().unwrap()];
        assert!(matches!(policy.check_addresses(&url, &mixed), Err(UrlProblem::Forbidden(_))), "any inside refuses");
        assert!(policy.check_addresses(&url, &[]).is_err());
    }

    #[test]
    fn a_refused_dns_answer_is_named_by_its_class_only() {
        let policy = UrlPolicy::default();
        let url = policy.check_form("https://internal.example.com/hook").unwrap();
        let err = policy.check_addresses(&url, &["10.20.30.40".parse().unwrap()]).unwrap_err();
        assert_eq!(err.message(), "`url`'s host resolves to a private address");
        // A literal address is the caller's own input, and is named.
        let err = policy.check_form("https://10.20.30.40/hook").unwrap_err();
        assert!(err.message().contains("10.20.30.40"), "{err:?}");
    }
}
