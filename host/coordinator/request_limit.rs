//! [`NameTheLimit`]: wraps the coordinator's gRPC service so that a request
//! refused for its size says which setting refused it. tonic refuses a
//! message over `max_decoding_message_size` with `OUT_OF_RANGE` "decoded
//! message length too large" before any handler runs; this rewrites that
//! answer to name `--max-request-bytes` and its value.

use tonic::codegen::{http, BoxFuture, Context, Poll, Service};
use tonic::server::NamedService;

/// A service whose size refusals name `--max-request-bytes`.
#[derive(Debug, Clone)]
pub struct NameTheLimit<S> {
    inner: S,
    limit: usize,
}

impl<S> NameTheLimit<S> {
    /// Wraps `inner`, whose decoding limit is `limit` bytes.
    pub fn new(inner: S, limit: usize) -> Self {
        NameTheLimit { inner, limit }
    }
}

impl<S: NamedService> NamedService for NameTheLimit<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, R> Service<http::Request<B>> for NameTheLimit<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let answer = self.inner.call(request);
        let limit = self.limit;
        Box::pin(async move {
            let mut response = answer.await?;
            name_the_limit(response.headers_mut(), limit);
            Ok(response)
        })
    }
}

/// `OUT_OF_RANGE`, as `grpc-status` carries it.
const OUT_OF_RANGE: &[u8] = b"11";

/// Rewrites a size refusal's `grpc-message` (a trailers-only answer carries
/// it in the headers).
fn name_the_limit(headers: &mut http::HeaderMap, limit: usize) {
    if headers.get("grpc-status").map(|v| v.as_bytes()) != Some(OUT_OF_RANGE) {
        return;
    }
    let too_large = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| {
            m.replace("%20", " ")
                .contains("decoded message length too large")
        });
    if !too_large {
        return;
    }
    let message = format!(
        "the request is larger than the coordinator's --max-request-bytes ({limit} bytes); \
         send fewer or shorter paths or arguments, or raise the limit"
    );
    if let Ok(v) = http::HeaderValue::from_str(&percent_encode(&message)) {
        headers.insert("grpc-message", v);
    }
}

/// The gRPC `grpc-message` encoding: bytes outside printable ASCII, and
/// `%`, as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_size_refusals_are_rewritten() {
        let mut h = http::HeaderMap::new();
        h.insert("grpc-status", http::HeaderValue::from_static("11"));
        h.insert(
            "grpc-message",
            http::HeaderValue::from_static(
                "Error,%20decoded%20message%20length%20too%20large:%20found%209%20bytes",
            ),
        );
        name_the_limit(&mut h, 4);
        let m = h["grpc-message"].to_str().unwrap();
        assert!(m.contains("--max-request-bytes (4 bytes)"), "{m}");

        let mut other = http::HeaderMap::new();
        other.insert("grpc-status", http::HeaderValue::from_static("3"));
        other.insert("grpc-message", http::HeaderValue::from_static("x"));
        name_the_limit(&mut other, 4);
        assert_eq!(other["grpc-message"], "x");
        assert_eq!(percent_encode("a%b\u{e9}"), "a%25b%C3%A9");
    }
}
