//! Limits on connections before anyone has authenticated: a cap on open
//! connections, a deadline for a new connection's first bytes (the TLS or
//! HTTP/2 handshake), an idle deadline, HTTP/2 keepalive settings, and an
//! accept loop that backs off on errors (`EMFILE`, `ENFILE`) instead of
//! spinning, logging repeated errors at a bounded rate.
//!
//! [`guard`] wraps any stream of accepted connections (so the simulated
//! network gets the same rules). At the cap, the oldest connection that
//! has not yet sent its handshake is closed to make room, so idle sockets
//! cannot lock legitimate clients out; if every connection is past its
//! handshake, accepting waits for one to close (new clients wait in the
//! kernel's backlog, using no descriptor).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Sleep;
use tonic::transport::server::Connected;

/// Bytes a connection must send before it counts as past its handshake:
/// the HTTP/2 client preface is 24 bytes, a TLS ClientHello more.
const HANDSHAKE_BYTES: u64 = 24;

/// How a server treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// A new connection must send its handshake within this time.
    pub handshake_timeout: Duration,
    /// A connection that sends nothing for this long is closed (live
    /// HTTP/2 peers answer the keepalive pings, so only dead or idle
    /// sockets reach it).
    pub idle_timeout: Duration,
    /// The server pings a connection silent for this long.
    pub keepalive_interval: Duration,
    /// A connection that does not answer a ping within this time is closed.
    pub keepalive_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: default_max_connections(open_files_limit()),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

impl ConnLimits {
    /// Applies the HTTP/2 keepalive settings to a tonic server builder.
    /// Pings come at least twice per idle timeout, so a live peer never
    /// reaches it.
    pub fn apply<L>(&self, builder: tonic::transport::Server<L>) -> tonic::transport::Server<L> {
        let interval = self.keepalive_interval.min(self.idle_timeout / 2);
        builder
            .http2_keepalive_interval(Some(interval.max(Duration::from_millis(100))))
            .http2_keepalive_timeout(Some(self.keepalive_timeout))
    }
}

/// The default connection cap for a process allowed `open_files`
/// descriptors: half of them (the rest stay for files, plugins and the
/// connections it dials), between 16 and 4096.
pub fn default_max_connections(open_files: u64) -> usize {
    (open_files / 2).clamp(16, 4096) as usize
}

/// The soft limit on open files (1024 if it cannot be read).
pub fn open_files_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
        .min(u64::from(u32::MAX))
}

/// Raises the soft limit on open files to the hard limit; the new soft
/// limit.
pub fn raise_open_files_limit() -> io::Result<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit).map_err(io::Error::from)?;
    }
    Ok(open_files_limit())
}

/// Logs an error at most once per interval, with how many were dropped.
#[derive(Debug)]
pub struct RateLimitedLog {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> Self {
        RateLimitedLog {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a line may be written now (`n` lines were dropped
    /// since the last one), `None` when this one is dropped.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// What one connection shares with the tracker.
#[derive(Debug, Default)]
struct ConnState {
    handshaken: AtomicBool,
    evict: AtomicBool,
    waker: AtomicWaker,
}

/// Open connections and those still in their handshake, oldest first.
#[derive(Debug)]
struct Tracker {
    max: usize,
    open: AtomicUsize,
    handshaking: Mutex<VecDeque<Weak<ConnState>>>,
    closed: Notify,
}

impl Tracker {
    /// Closes the oldest connection still in its handshake; whether there
    /// was one.
    fn evict_one(&self) -> bool {
        let mut queue = self.handshaking.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(weak) = queue.pop_front() {
            let Some(conn) = weak.upgrade() else { continue };
            if conn.handshaken.load(Ordering::Acquire) {
                continue;
            }
            conn.evict.store(true, Ordering::Release);
            conn.waker.wake();
            return true;
        }
        false
    }

    fn track(&self, conn: &Arc<ConnState>) {
        let mut queue = self.handshaking.lock().unwrap_or_else(|p| p.into_inner());
        // Drop entries of connections closed or past their handshake, so
        // the queue stays about as long as the handshakes in flight.
        while queue.front().is_some_and(|w| {
            w.upgrade()
                .is_none_or(|c| c.handshaken.load(Ordering::Acquire))
        }) {
            queue.pop_front();
        }
        queue.push_back(Arc::downgrade(conn));
    }
}

/// Holds a place under the cap until the connection is dropped.
#[derive(Debug)]
struct Slot(Arc<Tracker>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.closed.notify_one();
    }
}

/// Applies `limits` to the connections of `incoming`: see the module
/// documentation. Accept errors are never passed on: they are logged (at
/// a bounded rate) and the loop sleeps, longer while they persist.
pub fn guard<C, S>(
    incoming: S,
    limits: ConnLimits,
) -> impl Stream<Item = io::Result<Guarded<C>>> + Send + 'static
where
    S: Stream<Item = io::Result<C>> + Send + 'static,
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let tracker = Arc::new(Tracker {
        max: limits.max_connections.max(1),
        open: AtomicUsize::new(0),
        handshaking: Mutex::new(VecDeque::new()),
        closed: Notify::new(),
    });
    let state = Accepting {
        incoming: Box::pin(incoming),
        tracker,
        limits,
        backoff: Duration::ZERO,
        errors: RateLimitedLog::new(Duration::from_secs(10)),
        full: RateLimitedLog::new(Duration::from_secs(10)),
    };
    futures::stream::unfold(state, |mut s| async move {
        let conn = s.next().await?;
        Some((Ok(conn), s))
    })
}

struct Accepting<S> {
    incoming: Pin<Box<S>>,
    tracker: Arc<Tracker>,
    limits: ConnLimits,
    backoff: Duration,
    errors: RateLimitedLog,
    full: RateLimitedLog,
}

impl<C, S> Accepting<S>
where
    S: Stream<Item = io::Result<C>>,
    C: AsyncRead + AsyncWrite + Unpin,
{
    /// The next connection admitted; `None` when `incoming` ends.
    async fn next(&mut self) -> Option<Guarded<C>> {
        loop {
            self.wait_for_room().await;
            match self.incoming.next().await? {
                Ok(conn) => {
                    self.backoff = Duration::ZERO;
                    return Some(self.admit(conn));
                }
                Err(e) => self.back_off(e).await,
            }
        }
    }

    /// Waits until a connection may be accepted: below the cap, or after
    /// closing the oldest connection still in its handshake.
    async fn wait_for_room(&mut self) {
        let t = &self.tracker;
        loop {
            let closed = t.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if t.open.load(Ordering::Acquire) < t.max {
                return;
            }
            if !t.evict_one() {
                if let Some(dropped) = self.full.allow(Instant::now()) {
                    tracing::warn!(
                        max = t.max,
                        dropped,
                        "connection limit reached and every connection is past its \
                         handshake; new connections wait (raise --max-connections?)"
                    );
                }
            }
            // An evicted connection closes as soon as its task runs again;
            // the timeout only guards against a wake-up lost to a race.
            let _ = tokio::time::timeout(Duration::from_secs(1), closed).await;
        }
    }

    fn admit(&self, conn: C) -> Guarded<C> {
        let t = &self.tracker;
        t.open.fetch_add(1, Ordering::AcqRel);
        let state = Arc::new(ConnState::default());
        t.track(&state);
        Guarded {
            inner: conn,
            state,
            _slot: Slot(Arc::clone(t)),
            read: 0,
            last_read: tokio::time::Instant::now(),
            deadline: Box::pin(tokio::time::sleep(self.limits.handshake_timeout)),
            limits: self.limits,
        }
    }

    /// Logs an accept error (at a bounded rate) and sleeps: 10 ms, doubling
    /// while errors persist, up to 1 s.
    async fn back_off(&mut self, e: io::Error) {
        self.backoff = (self.backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        if let Some(dropped) = self.errors.allow(Instant::now()) {
            tracing::error!(
                dropped,
                backoff_ms = self.backoff.as_millis() as u64,
                open = self.tracker.open.load(Ordering::Relaxed),
                "cannot accept a connection: {e}"
            );
        }
        tokio::time::sleep(self.backoff).await;
    }
}

/// An accepted connection under [`ConnLimits`]: reads fail with
/// `TimedOut` once a deadline passes, which makes the server drop it.
pub struct Guarded<C> {
    inner: C,
    state: Arc<ConnState>,
    _slot: Slot,
    read: u64,
    last_read: tokio::time::Instant,
    /// The handshake deadline until the handshake bytes arrived, then the
    /// idle deadline (moved lazily: only checked when it fires).
    deadline: Pin<Box<Sleep>>,
    limits: ConnLimits,
}

impl<C> Guarded<C> {
    fn handshaken(&self) -> bool {
        self.read >= HANDSHAKE_BYTES
    }

    /// Whether the connection must close now; registers wake-ups for the
    /// deadline and for eviction.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        self.state.waker.register(cx.waker());
        if self.state.evict.load(Ordering::Acquire) {
            return Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "closed to make room: connection limit reached before its handshake",
            ));
        }
        while self.deadline.as_mut().poll(cx).is_ready() {
            if !self.handshaken() {
                return Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no handshake within the handshake timeout",
                ));
            }
            let idle_until = self.last_read + self.limits.idle_timeout;
            if idle_until <= tokio::time::Instant::now() {
                return Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "idle for the idle timeout",
                ));
            }
            self.deadline.as_mut().reset(idle_until);
        }
        None
    }
}

impl<C: AsyncRead + Unpin> AsyncRead for Guarded<C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            let was = self.handshaken();
            self.read += n as u64;
            self.last_read = tokio::time::Instant::now();
            if !was && self.handshaken() {
                self.state.handshaken.store(true, Ordering::Release);
                let idle_until = self.last_read + self.limits.idle_timeout;
                self.deadline.as_mut().reset(idle_until);
            }
        }
        if polled.is_pending() {
            if let Some(e) = self.expired(cx) {
                return Poll::Ready(Err(e));
            }
        }
        polled
    }
}

impl<C: AsyncWrite + Unpin> AsyncWrite for Guarded<C> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<C: Connected> Connected for Guarded<C> {
    type ConnectInfo = C::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests;
