//! [`Transport`]: how this process dials coordinators and workers: plain
//! or TLS, with our token on every request, over TCP or through a
//! [`Dialer`] (the cluster simulation's network).

use std::time::Duration;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use super::auth::{BearerToken, Token};
use super::tls::TlsFiles;
use super::SecurityError;
use crate::net::Dialer;

/// A channel that adds our token to every request.
pub type AuthChannel = InterceptedService<Channel, BearerToken>;

/// Dialing settings.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    tls: Option<TlsFiles>,
    token: BearerToken,
    dialer: Option<Dialer>,
}

impl Transport {
    /// Plain connections, no token (the loopback default).
    pub fn plain() -> Self {
        Transport::default()
    }

    /// Connections with `tls` (if any) and `token` (if any).
    pub fn new(tls: Option<TlsFiles>, token: Option<&Token>) -> Self {
        Transport {
            tls,
            token: BearerToken::new(token),
            dialer: None,
        }
    }

    /// The same settings, with connections opened by `dialer` instead of
    /// TCP.
    pub fn with_dialer(mut self, dialer: Dialer) -> Self {
        self.dialer = Some(dialer);
        self
    }

    /// Whether connections use TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether this side presents a certificate of its own.
    pub fn has_client_cert(&self) -> bool {
        self.tls.as_ref().is_some_and(TlsFiles::has_identity)
    }

    /// The URL for a `host:port`, or a URL kept as is when its scheme is
    /// this transport's: a TLS transport never dials `http://` (that would
    /// send our token in clear), and a plain one cannot dial `https://`.
    pub fn url(&self, address: &str) -> Result<String, SecurityError> {
        match address.split_once("://") {
            Some((scheme, _)) => {
                let ours = if self.is_tls() { "https" } else { "http" };
                if !scheme.eq_ignore_ascii_case(ours) {
                    return Err(SecurityError::SchemeMismatch {
                        address: address.to_string(),
                        tls: self.is_tls(),
                    });
                }
                Ok(address.to_string())
            }
            None if self.is_tls() => Ok(format!("https://{address}")),
            None => Ok(format!("http://{address}")),
        }
    }

    /// An endpoint for `address` with TLS applied and a connect timeout.
    pub fn endpoint(
        &self,
        address: &str,
        connect_timeout: Duration,
    ) -> Result<Endpoint, SecurityError> {
        let mut endpoint = Endpoint::from_shared(self.url(address)?)
            .map_err(|source| SecurityError::BadAddress {
                address: address.to_string(),
                source,
            })?
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.client())
                .map_err(SecurityError::TlsSetup)?;
        }
        Ok(endpoint)
    }

    /// Wraps a channel so our token goes with every request.
    pub fn wrap(&self, channel: Channel) -> AuthChannel {
        InterceptedService::new(channel, self.token.clone())
    }

    /// Connects to `endpoint` (from [`Transport::endpoint`]).
    pub async fn connect(&self, endpoint: &Endpoint) -> Result<Channel, tonic::transport::Error> {
        match &self.dialer {
            Some(dialer) => endpoint.connect_with_connector(dialer.clone()).await,
            None => endpoint.connect().await,
        }
    }

    /// A lazily connecting channel to `address`.
    pub fn lazy(
        &self,
        address: &str,
        connect_timeout: Duration,
    ) -> Result<AuthChannel, SecurityError> {
        let endpoint = self.endpoint(address, connect_timeout)?;
        Ok(self.wrap(match &self.dialer {
            Some(dialer) => endpoint.connect_with_connector_lazy(dialer.clone()),
            None => endpoint.connect_lazy(),
        }))
    }
}

/// Checks an address a worker advertises: `host:port` (or a URL of the
/// cluster's own scheme around one), with no spaces or control characters.
/// Peers dial it with the worker token, so an `http://` address on a TLS
/// cluster would send that token in clear.
pub fn check_advertised(address: &str, tls: bool) -> Result<(), SecurityError> {
    let bad = |why: &str| SecurityError::BadAdvertised {
        address: address.to_string(),
        why: why.to_string(),
    };
    let rest = match address.split_once("://") {
        Some((scheme, rest)) => {
            let ours = if tls { "https" } else { "http" };
            if !scheme.eq_ignore_ascii_case(ours) {
                return Err(SecurityError::SchemeMismatch {
                    address: address.to_string(),
                    tls,
                });
            }
            rest
        }
        None => address,
    };
    if address.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("it contains spaces or control characters"));
    }
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(bad("it must be host:port"));
    };
    if host.is_empty() || host.contains(['/', '@', '?', '#']) {
        return Err(bad("it must be host:port"));
    }
    if port.parse::<u16>().is_err() {
        return Err(bad("its port is not a number from 0 to 65535"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls() -> Transport {
        Transport {
            tls: Some(TlsFiles::default()),
            ..Transport::default()
        }
    }

    #[test]
    fn a_tls_transport_never_dials_plaintext() {
        assert_eq!(tls().url("w:1").unwrap(), "https://w:1");
        assert_eq!(tls().url("HTTPS://w:1").unwrap(), "HTTPS://w:1");
        let e = tls().url("http://w:1").unwrap_err();
        assert!(e.to_string().contains("TLS"), "{e}");
        assert_eq!(Transport::plain().url("w:1").unwrap(), "http://w:1");
        assert!(Transport::plain().url("https://w:1").is_err());
    }

    #[test]
    fn advertised_addresses_are_host_and_port() {
        assert!(check_advertised("127.0.0.1:7000", true).is_ok());
        assert!(check_advertised("[::1]:7000", false).is_ok());
        assert!(check_advertised("https://w.example:7000", true).is_ok());
        assert!(check_advertised("http://w.example:7000", false).is_ok());
        for bad in [
            "http://w:7000",
            "w",
            "w:port",
            ":7000",
            "user@w:7000",
            "w:7000/x",
        ] {
            assert!(check_advertised(bad, true).is_err(), "{bad}");
        }
        assert!(check_advertised("w\u{1b}[31m:7000", false).is_err());
    }
}
