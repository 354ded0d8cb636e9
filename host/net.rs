//! Where connections come from: what a server accepts them from
//! ([`Listener`], real TCP by default) and what a client may open them
//! through instead of TCP ([`Dialer`], set on a
//! [`Transport`](crate::security::Transport)).
//!
//! [`guard`] applies the limits every server puts on connections before
//! anyone authenticated (cap, handshake and idle deadlines, keepalive,
//! backoff on accept errors).
//!
//! Production code uses `tokio::net::TcpListener` and no dialer. The
//! deterministic cluster simulation (`tests/sim.rs`) supplies both from a
//! simulated network, so the unchanged coordinator and worker run inside it.

pub mod guard;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::codegen::http::Uri;
use tonic::codegen::Service;
use tonic::transport::server::{Connected, TcpIncoming};

/// A source of incoming connections for a gRPC server.
pub trait Listener: Send + 'static {
    /// One accepted connection.
    type Conn: AsyncRead
        + AsyncWrite
        + Connected<ConnectInfo: Clone + Send + Sync + 'static>
        + Unpin
        + Send
        + 'static;

    /// The address it listens on.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// The connections it accepts, for `serve_with_incoming`.
    fn incoming(self) -> impl Stream<Item = io::Result<Self::Conn>> + Send + 'static;
}

impl Listener for tokio::net::TcpListener {
    type Conn = tokio::net::TcpStream;

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }

    fn incoming(self) -> impl Stream<Item = io::Result<Self::Conn>> + Send + 'static {
        TcpIncoming::from(self).with_nodelay(Some(true))
    }
}

/// A connection opened by a [`Dialer`].
pub trait Connection: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Connection for T {}

type Dialing = Pin<Box<dyn Future<Output = io::Result<Box<dyn Connection>>> + Send>>;

/// Opens connections to `host:port` in place of TCP.
#[derive(Clone)]
pub struct Dialer(Arc<dyn Fn(String, u16) -> Dialing + Send + Sync>);

impl Dialer {
    /// A dialer that connects to `(host, port)` with `dial`.
    pub fn new<F, Fut, C>(dial: F) -> Self
    where
        F: Fn(String, u16) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<C>> + Send + 'static,
        C: Connection,
    {
        Dialer(Arc::new(move |host, port| {
            let connecting = dial(host, port);
            Box::pin(async move { Ok(Box::new(connecting.await?) as Box<dyn Connection>) })
        }))
    }
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dialer")
    }
}

impl Service<Uri> for Dialer {
    type Response = TokioIo<Box<dyn Connection>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let Some(host) = uri.host().map(str::to_string) else {
            let e = io::Error::new(io::ErrorKind::InvalidInput, format!("no host in {uri}"));
            return Box::pin(async move { Err(e) });
        };
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let dialing = (self.0)(host, port);
        Box::pin(async move { Ok(TokioIo::new(dialing.await?)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn dialer_gets_the_uri_host_and_port() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let mut dialer = Dialer::new(move |host, port| {
            log.lock().unwrap().push((host, port));
            async {
                let (mine, mut theirs) = tokio::io::duplex(64);
                theirs.write_all(b"hi").await?;
                Ok(mine)
            }
        });
        let conn = dialer
            .call("http://w1:7001".parse().unwrap())
            .await
            .unwrap();
        let mut inner = conn.into_inner();
        let mut buf = [0; 2];
        inner.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        dialer.call("https://coord".parse().unwrap()).await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [("w1".to_string(), 7001), ("coord".to_string(), 443)]
        );
    }
}
