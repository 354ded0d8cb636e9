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

    /// The URL for a `host:port` (or a URL, kept as is).
    pub fn url(&self, address: &str) -> String {
        if address.contains("://") {
            address.to_string()
        } else if self.is_tls() {
            format!("https://{address}")
        } else {
            format!("http://{address}")
        }
    }

    /// An endpoint for `address` with TLS applied and a connect timeout.
    pub fn endpoint(
        &self,
        address: &str,
        connect_timeout: Duration,
    ) -> Result<Endpoint, SecurityError> {
        let mut endpoint = Endpoint::from_shared(self.url(address))
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
