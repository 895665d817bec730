//! Webhook URL rules: https, no credentials, and no loopback, private,
//! link-local or metadata addresses unless the dev allow-list says so.

use std::net::IpAddr;
use url::Url;

#[derive(Debug, PartialEq, Eq)]
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

/// Checks the URL's form; `allow_private` (dev) also permits plain http.
pub fn check_form(raw: &str, allow_private: bool) -> Result<Url, UrlProblem> {
    let url = Url::parse(raw).map_err(|e| UrlProblem::Invalid(format!("`url` is not a valid URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(UrlProblem::Invalid("`url` must use https".into())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlProblem::Invalid("`url` must not contain credentials".into()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlProblem::Invalid("`url` must have a host".into()));
    }
    if raw.len() > 2048 {
        return Err(UrlProblem::Invalid("`url` is longer than 2048 characters".into()));
    }
    Ok(url)
}

/// Whether an address is one a webhook must never point at.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64) // carrier-grade NAT
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_ip(IpAddr::V4(v4));
            }
            let seg0 = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (seg0 & 0xfe00) == 0xfc00 // unique local
                || (seg0 & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// Checks every address the host resolves to (at registration and again at
/// delivery time, so DNS rebinding cannot point a webhook inside).
pub async fn check_resolved(url: &Url, allow_private: bool) -> Result<(), UrlProblem> {
    if allow_private {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| UrlProblem::Invalid(format!("`url` host does not resolve: {e}")))?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.is_empty() {
        return Err(UrlProblem::Invalid("`url` host does not resolve".into()));
    }
    if addrs.iter().any(|ip| is_forbidden_ip(*ip)) {
        return Err(UrlProblem::Forbidden(
            "`url` resolves to a loopback, private, link-local or metadata address".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_rules() {
        assert!(check_form("https://example.com/hook", false).is_ok());
        assert!(check_form("http://example.com/hook", false).is_err());
        assert!(check_form("http://127.0.0.1:3000/hook", true).is_ok());
        assert!(check_form("https://user:pass@example.com/", false).is_err());
        assert!(check_form("not a url", false).is_err());
    }

    #[test]
    fn forbidden_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.1.1",
            "172.16.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(!is_forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn resolved_loopback_is_refused_unless_allowed() {
        let url = check_form("https://localhost/hook", false).unwrap();
        assert!(matches!(
            check_resolved(&url, false).await,
            Err(UrlProblem::Forbidden(_)) | Err(UrlProblem::Invalid(_))
        ));
        assert!(check_resolved(&url, true).await.is_ok());
        let literal = check_form("https://[::1]/hook", false).unwrap();
        assert!(matches!(check_resolved(&literal, false).await, Err(UrlProblem::Forbidden(_))));
    }
}
