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
    /// The identity's certificate chain and key as PEM, for the HTTPS side
    /// (`--http`), which uses rustls directly.
    identity_pem: Option<(Vec<u8>, Vec<u8>)>,
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
        let identity_pem = match (cert, key) {
            (Some(c), Some(k)) => Some((read("TLS certificate", c)?, read("TLS key", k)?)),
            _ => None,
        };
        let identity = match (cert, key) {
            (Some(_), Some(_)) => identity_pem.as_ref().map(|(c, k)| Identity::from_pem(c, k)),
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
            identity_pem,
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

    /// The HTTPS side (`--http`): a rustls server configuration with our
    /// identity, offering HTTP/2 and HTTP/1.1; `None` without an identity.
    /// Client certificates are not asked for: browsers rarely have one, and
    /// the client token guards the pages.
    pub fn https_server(
        &self,
    ) -> Result<Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>, SecurityError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        use tokio_rustls::rustls;
        let Some((cert, key)) = &self.identity_pem else {
            return Ok(None);
        };
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            SecurityError::Tls(format!("--tls-cert/--tls-key for --http: {what}: {e}"))
        };
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("bad certificate PEM", &e))?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| bad("bad key PEM", &e))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("protocol versions", &e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| bad("certificate and key", &e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(std::sync::Arc::new(config)))
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
