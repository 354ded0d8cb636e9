//! Turning connection failures into advice: which address could not be
//! reached and whether a coordinator runs there, and, for TLS mistakes,
//! which side's certificate or CA is likely wrong. tonic and rustls report
//! these as text ("tcp connect error", "h2 protocol error", "operation was
//! canceled", "invalid peer certificate: UnknownIssuer"); this reads it.

/// What a client knows of the coordinator it talks to.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The URL dialled.
    pub url: String,
    /// Whether the client speaks TLS.
    pub tls: bool,
    /// Whether the client presents a certificate.
    pub client_cert: bool,
}

impl Peer {
    /// `host:port` of the URL.
    pub fn address(&self) -> &str {
        let rest = self.url.split_once("://").map_or(&*self.url, |(_, r)| r);
        rest.trim_end_matches('/')
    }

    /// Advice for a transport failure whose error text is `detail`, or
    /// `None` when it does not look like one this knows.
    pub fn advice(&self, detail: &str) -> Option<String> {
        let addr = self.address();
        let has = |needle: &str| detail.contains(needle);
        if has("Connection refused") {
            return Some(format!(
                "nothing listens at {addr} (connection refused): check that `mr coordinator` \
                 runs on that machine and that this is its --listen port"
            ));
        }
        if has("dns error") || has("failed to lookup address") {
            return Some(format!("the host name of {addr} cannot be resolved"));
        }
        if has("timed out") || has("deadline has elapsed") {
            return Some(format!(
                "no answer from {addr} in time: a wrong host, a firewall, or a coordinator \
                 that is stopped (SIGSTOP) or overloaded"
            ));
        }
        if has("invalid peer certificate") {
            let which = if has("NotValidForName") {
                format!("the coordinator's certificate does not name the host in {addr}: dial a name or address it lists, or issue it for this one")
            } else if has("Expired") || has("NotValidYet") {
                "the coordinator's certificate is outside its validity period (check its dates and both clocks)".to_string()
            } else {
                "the coordinator's certificate is not signed by the CA given with --tls-ca: pass the CA that signed the coordinator's --tls-cert".to_string()
            };
            return Some(format!("TLS: {which}"));
        }
        if self.tls
            && (has("InvalidContentType") || has("corrupt message") || has("CorruptMessage"))
        {
            return Some(format!(
                "{addr} does not speak TLS: use http:// without --tls-* files, or start the \
                 coordinator with --tls-cert and --tls-key"
            ));
        }
        // A TLS server answering a plain client closes the connection at
        // once; which error the client sees first varies.
        let closed = has("operation was canceled")
            || has("connection reset")
            || has("broken pipe")
            || detail.starts_with("transport error");
        if !self.tls
            && (closed
                || has("h2 protocol error")
                || has("http2 error")
                || has("frame with invalid size"))
        {
            return Some(format!(
                "the server at {addr} did not answer plain HTTP/2: if the coordinator uses TLS, \
                 dial https:// with --tls-ca (and --tls-cert/--tls-key if it requires client \
                 certificates); if it is not a coordinator, check the port"
            ));
        }
        if self.tls
            && (closed
                || has("CertificateRequired")
                || has("BadCertificate")
                || has("UnknownCA")
                || has("unknown ca"))
        {
            let which = if self.client_cert {
                "the coordinator refused this client's certificate: it must be signed by the CA the coordinator trusts (its --tls-ca)"
            } else {
                "the coordinator closed the TLS connection: it likely requires a client certificate (--tls-client-auth); pass --tls-cert and --tls-key signed by the CA it trusts"
            };
            return Some(format!("TLS: {which}"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(url: &str, tls: bool, client_cert: bool) -> Peer {
        Peer {
            url: url.into(),
            tls,
            client_cert,
        }
    }

    #[test]
    fn each_mistake_names_the_address_or_the_side_to_fix() {
        let plain = peer("http://10.0.0.1:10162", false, false);
        let refused = plain
            .advice("tcp connect error: Connection refused (os error 111)")
            .unwrap();
        assert!(
            refused.contains("nothing listens at 10.0.0.1:10162"),
            "{refused}"
        );
        for closed in [
            "h2 protocol error: http2 error",
            "operation was canceled",
            "transport error",
        ] {
            let advice = plain.advice(closed).unwrap();
            assert!(advice.contains("https://"), "{advice}");
        }
        let tls = peer("https://c:1", true, false);
        assert!(tls
            .advice("invalid peer certificate: UnknownIssuer")
            .unwrap()
            .contains("--tls-ca"));
        assert!(tls
            .advice("invalid peer certificate: NotValidForName")
            .unwrap()
            .contains("does not name the host"));
        assert!(tls
            .advice("operation was canceled")
            .unwrap()
            .contains("requires a client certificate"));
        assert!(peer("https://c:1", true, true)
            .advice("operation was canceled")
            .unwrap()
            .contains("refused this client's certificate"));
        assert_eq!(plain.advice("not found: job 3"), None);
    }
}
