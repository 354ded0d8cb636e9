//! Security: who may call what, over which transport, touching which files.
//!
//! - [`auth`]: role tokens (client, worker) checked on every RPC, compared in
//!   constant time, never logged; and the interceptor that sends ours.
//! - [`tls`]: TLS (rustls through tonic) for servers and clients, with
//!   optional client certificates.
//! - [`confine`]: the folders a job may read from and write to, checked at
//!   submission; workers open a job's files only through it.
//! - [`open`]: opening beneath an allowed folder once, by descriptor
//!   (`openat2` or an `O_NOFOLLOW` walk), and output folders used by
//!   descriptor.
//! - [`transport`]: how this process dials others (TLS and token together).
//!
//! With no tokens configured the servers accept anyone, so they refuse to
//! listen beyond loopback unless told `--insecure`.

pub mod auth;
pub mod confine;
pub mod open;
pub mod tls;
pub mod transport;

pub use auth::{Auth, Role, Token};
pub use confine::{resolve, Confinement, PathError, ResolveError};
pub use open::OutputDir;
pub use tls::TlsFiles;
pub use transport::{check_advertised, AuthChannel, Transport};

/// Why a security setting cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A token or certificate file cannot be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A token is empty or not printable ASCII.
    #[error("{0}")]
    BadToken(String),
    /// TLS files are incomplete.
    #[error("{0}")]
    Tls(String),
    /// An address cannot be dialled.
    #[error("bad address {address:?}: {source}")]
    BadAddress {
        /// The address.
        address: String,
        /// Why.
        source: tonic::transport::Error,
    },
    /// TLS cannot be set up for a connection.
    #[error("TLS setup: {0}")]
    TlsSetup(tonic::transport::Error),
    /// A URL whose scheme is not the transport's: `http://` with TLS files
    /// (which would dial in plaintext), or `https://` without.
    #[error(
        "{address:?} does not match this process's transport: {}",
        if *tls { "TLS files were given, so only https:// (or host:port) may be dialled; plaintext http:// would send the token in clear" }
        else { "no TLS files were given (--tls-ca, --tls-cert, --tls-key), so https:// cannot be dialled" }
    )]
    SchemeMismatch {
        /// The address or URL.
        address: String,
        /// Whether this process uses TLS.
        tls: bool,
    },
    /// A worker advertised an address peers cannot safely dial.
    #[error("bad worker address {address:?}: {why}")]
    BadAdvertised {
        /// The address.
        address: String,
        /// Why.
        why: String,
    },
    /// The same token for both roles.
    #[error(
        "the client and worker tokens are the same: a client could act as a worker (and receive every job's \
         data) and a worker as a client; give each role its own token"
    )]
    SameToken,
    /// Listening beyond loopback without authentication.
    #[error(
        "refusing to listen on {0} without client and worker tokens: anyone who can reach it could submit jobs or \
         register as a worker; configure tokens or pass --insecure"
    )]
    Unprotected(std::net::SocketAddr),
}

/// Errors unless `addr` is loopback, `auth` checks both roles, or the
/// operator said `--insecure`.
pub fn check_exposure(
    addr: std::net::SocketAddr,
    auth: &Auth,
    insecure: bool,
) -> Result<(), SecurityError> {
    if addr.ip().is_loopback() || auth.is_complete() || insecure {
        return Ok(());
    }
    Err(SecurityError::Unprotected(addr))
}
