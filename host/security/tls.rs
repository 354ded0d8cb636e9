//! TLS settings from PEM files: `--tls-cert`/`--tls-key` (this process's
//! identity: served by servers, presented by clients when given),
//! `--tls-ca` (the roots that certificates are checked against), and
//! `--tls-client-auth` (servers require client certificates signed by the
//! CA: mutual TLS).

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use super::SecurityError;

/// TLS material, as PEM.
#[derive(Clone, Default)]
pub struct TlsFiles {
    identity: Option<Identity>,
    ca: Option<Certificate>,
    require_client_cert: bool,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("identity", &self.identity.is_some())
            .field("ca", &self.ca.is_some())
            .field("require_client_cert", &self.require_client_cert)
            .finish()
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(path).map_err(|source| SecurityError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

impl TlsFiles {
    /// Whether a certificate and key were given.
    pub fn has_identity(&self) -> bool {
        self.identity.is_some()
    }
    /// Reads the files given; `None` when TLS is not configured at all.
    pub fn load(
        cert: Option<&PathBuf>,
        key: Option<&PathBuf>,
        ca: Option<&PathBuf>,
        require_client_cert: bool,
    ) -> Result<Option<Self>, SecurityError> {
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some(Identity::from_pem(
                read("TLS certificate", c)?,
                read("TLS key", k)?,
            )),
            (None, None) => None,
            _ => {
                return Err(SecurityError::Tls(
                    "--tls-cert and --tls-key go together".into(),
                ))
            }
        };
        let ca = ca
            .map(|p| read("TLS CA certificate", p))
            .transpose()?
            .map(Certificate::from_pem);
        if require_client_cert && ca.is_none() {
            return Err(SecurityError::Tls(
                "--tls-client-auth needs --tls-ca (the CA client certificates are checked against)"
                    .into(),
            ));
        }
        if identity.is_none() && ca.is_none() {
            return Ok(None);
        }
        Ok(Some(TlsFiles {
            identity,
            ca,
            require_client_cert,
        }))
    }

    /// The server side: our identity, and client certificates if required.
    pub fn server(&self) -> Result<ServerTlsConfig, SecurityError> {
        let identity = self.identity.clone().ok_or_else(|| {
            SecurityError::Tls("serving TLS needs --tls-cert and --tls-key".into())
        })?;
        let mut config = ServerTlsConfig::new().identity(identity);
        if self.require_client_cert {
            if let Some(ca) = &self.ca {
                config = config.client_ca_root(ca.clone());
            }
        }
        Ok(config)
    }

    /// The client side: the CA to check servers against, and our identity
    /// for servers that require one.
    pub fn client(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        if let Some(ca) = &self.ca {
            config = config.ca_certificate(ca.clone());
        }
        if let Some(id) = &self.identity {
            config = config.identity(id.clone());
        }
        config
    }
}
