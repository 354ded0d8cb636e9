//! The coordinator's HTTP side (`mr coordinator --http ADDR`): a read-only
//! web UI, a JSON API behind it, and `/metrics`, served by `axum` on the
//! hyper and tower that tonic already brings.
//!
//! Routes:
//! - `/`: jobs and workers; `/jobs/{id}`: one job with its task table and a
//!   timeline of attempts per worker; `/workers/{id}`: what a worker ran.
//!   Plain HTML and CSS, no scripts (the pages say so in their
//!   `Content-Security-Policy`), no external assets;
//! - `/api/jobs`, `/api/jobs/{id}`, `/api/workers`: the same JSON as
//!   `mr jobs/poll/workers --json` (the client's own serde views, built from
//!   the same protobuf replies); `/api/jobs/{id}/tasks`: the task table;
//! - `/metrics`: OpenMetrics text ([`super::metrics`]).
//!
//! Security, as for the gRPC port: the caller refuses to bind beyond
//! loopback without tokens unless `--insecure`; with a client token every
//! request needs it, as `Authorization: Bearer TOKEN` (or as the password
//! of HTTP Basic authentication, so that a browser can prompt for it); the
//! worker token does not grant access. With the coordinator's certificate,
//! the port speaks HTTPS only.
//!
//! Layout: this file holds the router, the access check and the accept
//! loop; `pages` renders the HTML pages with the helpers of `html`; `api`
//! serves the JSON.

mod api;
mod html;
mod pacer;
mod pages;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::metrics;
use super::state::Shared;
use crate::security::{Auth, SecurityError, TlsFiles};

/// Most connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;
/// Time allowed for a TLS handshake or a request's headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the HTTP side is protected.
#[derive(Clone, Default)]
pub struct HttpConfig {
    /// The coordinator's tokens: the client token grants access; the
    /// worker token is recognised only to be refused.
    pub auth: Auth,
    /// Serve HTTPS with this configuration (the coordinator's certificate).
    pub tls: Option<Arc<ServerConfig>>,
    /// Requests a second served to one client address (bursts of twice
    /// that); 0: unpaced.
    pub rate: u32,
}

impl HttpConfig {
    /// The protection of a coordinator with `auth` and `tls`.
    pub fn new(auth: &Auth, tls: Option<&TlsFiles>, rate: u32) -> Result<Self, SecurityError> {
        Ok(HttpConfig {
            auth: auth.clone(),
            tls: tls.map(TlsFiles::https_server).transpose()?.flatten(),
            rate,
        })
    }
}

#[derive(Clone)]
struct AppState {
    shared: Arc<Shared>,
    auth: Arc<Auth>,
    metrics: Arc<MetricsCache>,
}

/// The routes, behind the access check.
pub fn router(shared: Arc<Shared>, auth: Auth) -> Router {
    let state = AppState {
        shared,
        auth: Arc::new(auth),
        metrics: Arc::default(),
    };
    Router::new()
        .route("/", get(pages::overview))
        .route("/jobs/{id}", get(pages::job))
        .route("/workers/{id}", get(pages::worker))
        .route("/api/jobs", get(api::jobs))
        .route("/api/jobs/{id}", get(api::job))
        .route("/api/jobs/{id}/tasks", get(api::tasks))
        .route("/api/workers", get(api::workers))
        .route("/metrics", get(metrics_page))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// How long a rendered `/metrics` page is served again: scrapers come every
/// few seconds, and a flood of scrapes then costs the scheduler nothing.
const METRICS_FRESH_FOR: std::time::Duration = std::time::Duration::from_millis(250);

/// The last rendered `/metrics` page and when it was rendered.
#[derive(Default)]
struct MetricsCache(std::sync::Mutex<Option<(std::time::Instant, axum::body::Bytes)>>);

impl MetricsCache {
    /// The page rendered at most [`METRICS_FRESH_FOR`] ago, or `render`'s.
    fn get(&self, render: impl FnOnce() -> String) -> axum::body::Bytes {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if let Some((at, body)) = &*last {
            if now.duration_since(*at) < METRICS_FRESH_FOR {
                return body.clone();
            }
        }
        let body = axum::body::Bytes::from(render());
        *last = Some((now, body.clone()));
        body
    }
}

async fn metrics_page(State(s): State<AppState>) -> Response {
    // Totals the core keeps: the scrape's cost does not grow with tasks.
    let body = s.metrics.get(|| {
        let summary = s.shared.read(|core, _| core.summary());
        metrics::render(&summary, s.shared.task_durations(), &s.shared.rpcs)
    });
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}

async fn not_found() -> Response {
    pages::not_found("No such page.")
}

/// Whether a request may be served: `Ok` if no client token is set or it
/// presents the client token; else the status to answer with.
fn admit(auth: &Auth, headers: &HeaderMap) -> Result<(), StatusCode> {
    let Some(needed) = &auth.client else {
        return Ok(());
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let presented: Vec<u8> = if let Some(t) = value.strip_prefix("Bearer ") {
        t.trim().as_bytes().to_vec()
    } else if let Some(b) = value.strip_prefix("Basic ") {
        // user:password, the password being the token (any user name).
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .unwrap_or_default();
        match decoded.iter().position(|&c| c == b':') {
            Some(i) => decoded[i + 1..].to_vec(),
            None => Vec::new(),
        }
    } else {
        return Err(StatusCode::UNAUTHORIZED);
    };
    if needed.matches(&presented) {
        return Ok(());
    }
    if auth.worker.as_ref().is_some_and(|w| w.matches(&presented)) {
        return Err(StatusCode::FORBIDDEN);
    }
    Err(StatusCode::UNAUTHORIZED)
}

/// Checks access and adds headers every answer carries.
async fn guard(State(s): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = match admit(&s.auth, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(StatusCode::FORBIDDEN) => (
            StatusCode::FORBIDDEN,
            "this token's role may not read the coordinator's pages; use the client token\n",
        )
            .into_response(),
        Err(code) => {
            let mut r = (
                code,
                "the coordinator's pages need its client token: \
                 Authorization: Bearer TOKEN (or TOKEN as the Basic password)\n",
            )
                .into_response();
            let h = r.headers_mut();
            h.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mapreduce\", charset=\"UTF-8\""),
            );
            h.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mapreduce\""),
            );
            r
        }
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Serves the routes on `listener` until the coordinator stops: HTTPS if
/// `config.tls` is set, else plain HTTP (HTTP/1.1 and HTTP/2 either way).
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, config: HttpConfig) {
    let mut stopping = shared.stopping.subscribe();
    let app = router(shared, config.auth);
    let tls = config.tls.map(TlsAcceptor::from);
    let pacer = pacer::Pacer::new(config.rate).map(Arc::new);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let stopped = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            () = &mut stopped => return,
        };
        let Ok(slot) = slot else { return };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stopped => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let (app, tls) = (app.clone(), tls.clone());
                let paced = pacer.clone().map(|p| (p, peer.ip()));
                tokio::spawn(async move {
                    serve_connection(stream, app, tls, paced).await;
                    drop(slot);
                });
            }
            Err(e) => {
                // Out of descriptors, say: back off rather than spin.
                tracing::warn!("--http: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    app: Router,
    tls: Option<TlsAcceptor>,
    paced: Option<(Arc<pacer::Pacer>, std::net::IpAddr)>,
) {
    // Every request takes its turn from its address's bucket first.
    let service = TowerToHyperService::new(tower::service_fn(
        move |request: axum::http::Request<hyper::body::Incoming>| {
            let (app, paced) = (app.clone(), paced.clone());
            async move {
                if let Some((pacer, peer)) = paced {
                    match pacer.admit(peer, std::time::Instant::now()) {
                        pacer::Admission::Now => {}
                        pacer::Admission::After(wait) => tokio::time::sleep(wait).await,
                        pacer::Admission::Refuse(retry) => {
                            // Answered late too: a client that retries at once
                            // on 429 still sends at most one request a second
                            // on each connection.
                            tokio::time::sleep(pacer::REFUSAL_DELAY).await;
                            return Ok(too_many_requests(retry));
                        }
                    }
                }
                tower::ServiceExt::oneshot(app, request).await
            }
        },
    ));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    let result = match tls {
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
                Ok(Err(e)) => {
                    tracing::debug!("--http: TLS handshake failed: {e}");
                    return;
                }
                Err(_) => return,
            }
        }
        None => {
            builder
                .serve_connection(TokioIo::new(stream), service)
                .await
        }
    };
    if let Err(e) = result {
        tracing::debug!("--http: connection ended: {e}");
    }
}

/// The answer to a request over its address's rate.
fn too_many_requests(retry: Duration) -> Response {
    let secs = retry.as_secs() + 1;
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "too many requests from this address (the coordinator's --http-rate); retry in {secs} s\n"
        ),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::Token;

    #[test]
    fn a_scrape_flood_renders_the_metrics_once_per_freshness_period() {
        let cache = MetricsCache::default();
        let mut renders = 0;
        for _ in 0..1000 {
            let body = cache.get(|| {
                renders += 1;
                format!("page {renders}")
            });
            assert_eq!(&body[..], b"page 1");
        }
        assert_eq!(renders, 1);
        std::thread::sleep(METRICS_FRESH_FOR);
        assert_eq!(&cache.get(|| "page 2".to_string())[..], b"page 2");
    }

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = authorization {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn only_the_client_token_is_admitted() {
        let auth = Auth {
            client: Some(Token::new("c-secret").unwrap()),
            worker: Some(Token::new("w-secret").unwrap()),
        };
        let basic = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert_eq!(admit(&auth, &headers(Some("Bearer c-secret"))), Ok(()));
        assert_eq!(admit(&auth, &headers(Some(&basic("any:c-secret")))), Ok(()));
        for (presented, expected) in [
            (None, StatusCode::UNAUTHORIZED),
            (Some("Bearer nope".to_string()), StatusCode::UNAUTHORIZED),
            (Some("c-secret".to_string()), StatusCode::UNAUTHORIZED),
            (Some(basic("c-secret")), StatusCode::UNAUTHORIZED),
            (Some("Basic !!!".to_string()), StatusCode::UNAUTHORIZED),
            (Some("Bearer w-secret".to_string()), StatusCode::FORBIDDEN),
            (Some(basic("w:w-secret")), StatusCode::FORBIDDEN),
        ] {
            assert_eq!(
                admit(&auth, &headers(presented.as_deref())),
                Err(expected),
                "{presented:?}"
            );
        }
        assert_eq!(admit(&Auth::open(), &headers(None)), Ok(()));
    }
}
