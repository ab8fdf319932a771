//! The Host allow-list, against DNS rebinding: a page on `evil.example` whose name comes to
//! resolve to this server sends its requests with `Host: evil.example` and an Origin to match,
//! so the same-origin check alone would let it reset the store. Only the names this server is
//! known by are served; the probes and `/metrics` answer any Host, since orchestrators and
//! scrapers call them by pod IP.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::http::header::HOST;

use crate::api::error::ApiError;
use crate::domain::bounded;

/// Paths any Host may call.
const OPEN_PATHS: [&str; 3] = ["/livez", "/readyz", "/metrics"];

/// The names this server answers to: a name alone allows any port, `name:port` that port only,
/// `*` anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHosts {
    any: bool,
    entries: Vec<String>,
}

impl AllowedHosts {
    /// `localhost`, `127.0.0.1` and `[::1]` on any port and the address the server listens on
    /// (unless it is a wildcard), then each of `extra`.
    pub fn new(listening: SocketAddr, extra: &[String]) -> Self {
        let mut entries: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        if !listening.ip().is_unspecified() {
            entries.push(listening.to_string());
        }
        let mut any = false;
        for entry in extra {
            let entry = entry.trim().to_ascii_lowercase();
            match entry.as_str() {
                "" => {}
                "*" => any = true,
                _ => entries.push(entry),
            }
        }
        AllowedHosts { any, entries }
    }

    /// Whether a request with this `Host` is served.
    pub fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let host = host.trim().to_ascii_lowercase();
        // `[::1]:8093` → `[::1]`; `example.com:8093` → `example.com`; `example.com` stays.
        let name = match host.rfind(':') {
            Some(colon) if !host[colon..].contains(']') => &host[..colon],
            _ => host.as_str(),
        };
        self.entries
            .iter()
            .any(|entry| *entry == host || *entry == name)
    }

    /// Passes a request whose Host is on the list (or for an open path); a 421 Misdirected
    /// Request otherwise.
    pub fn admit(&self, request: &Request) -> Result<(), ApiError> {
        if OPEN_PATHS.contains(&request.uri().path()) {
            return Ok(());
        }
        let host = request
            .headers()
            .get(HOST)
            .and_then(|host| host.to_str().ok())
            .or_else(|| {
                request
                    .uri()
                    .authority()
                    .map(|authority| authority.as_str())
            });
        match host {
            Some(host) if self.allows(host) => Ok(()),
            host => Err(ApiError::MisdirectedRequest {
                message: format!(
                    "this server does not answer to the host name {:?}; start it with \
                     --allowed-hosts naming it",
                    bounded(host.unwrap_or(""), 100)
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_names_are_allowed() {
        let local: SocketAddr = "127.0.0.1:8093".parse().unwrap();
        let hosts = AllowedHosts::new(local, &["Features.example".into(), "10.0.0.5:80".into()]);
        for allowed in [
            "localhost",
            "localhost:8093",
            "127.0.0.1:9999",
            "[::1]:8093",
            "features.example:8093",
            "FEATURES.EXAMPLE",
            "10.0.0.5:80",
        ] {
            assert!(hosts.allows(allowed), "{allowed}");
        }
        for refused in [
            "evil.example:8093",
            "10.0.0.5:81",
            "10.0.0.5",
            "localhost.evil.example",
            "",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
        let listening: SocketAddr = "10.1.2.3:8093".parse().unwrap();
        assert!(AllowedHosts::new(listening, &[]).allows("10.1.2.3:8093"));
        let wildcard: SocketAddr = "0.0.0.0:8093".parse().unwrap();
        assert!(!AllowedHosts::new(wildcard, &[]).allows("0.0.0.0:8093"));
        assert!(AllowedHosts::new(wildcard, &["*".into()]).allows("anything:1"));
    }
}
