//! Role tokens: a client token may submit, poll, list and cancel; a worker
//! token may register, heartbeat, take and report tasks, fetch plugins and
//! read other workers' map output. Presented as `authorization: Bearer
//! TOKEN`; missing or unknown: `Unauthenticated`; the other role's:
//! `PermissionDenied`.

use std::fmt;
use std::path::Path;

use tonic::metadata::{Ascii, MetadataMap, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

use super::SecurityError;

/// Who may call an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Submitting and following jobs.
    Client,
    /// Running tasks.
    Worker,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Client => "client",
            Role::Worker => "worker",
        })
    }
}

/// A secret token. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Token {
    /// A token from text (surrounding whitespace is ignored).
    pub fn new(text: &str) -> Result<Self, SecurityError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(SecurityError::BadToken("a token must not be empty".into()));
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SecurityError::BadToken(
                "a token must be printable ASCII without spaces".into(),
            ));
        }
        Ok(Token(t.to_string()))
    }

    /// A token from a file's contents.
    pub fn from_file(path: &Path) -> Result<Self, SecurityError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecurityError::Read {
            what: "token file",
            path: path.to_path_buf(),
            source,
        })?;
        Token::new(&text)
    }

    /// The token from `file` if given, else from the environment variable
    /// `var` if set, else none.
    pub fn load(file: Option<&Path>, var: &str) -> Result<Option<Self>, SecurityError> {
        if let Some(f) = file {
            return Token::from_file(f).map(Some);
        }
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Token::new(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// Constant-time comparison (the time depends only on the lengths).
    pub fn matches(&self, presented: &[u8]) -> bool {
        let ours = self.0.as_bytes();
        let mut diff = ours.len() ^ presented.len();
        for (i, b) in ours.iter().enumerate() {
            let p = presented.get(i).copied().unwrap_or(0);
            diff |= usize::from(b ^ p);
        }
        diff == 0
    }

    /// The token's SHA-256, which lets a worker recognise the client token
    /// without holding it.
    pub fn sha256(&self) -> Vec<u8> {
        use sha2::Digest;
        sha2::Sha256::digest(self.0.as_bytes()).to_vec()
    }

    fn header(&self) -> Option<MetadataValue<Ascii>> {
        format!("Bearer {}", self.0).parse().ok()
    }
}

/// The tokens a server checks. A role without a token is open to anyone.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// The client role's token.
    pub client: Option<Token>,
    /// The worker role's token.
    pub worker: Option<Token>,
}

impl Auth {
    /// No checks at all.
    pub fn open() -> Self {
        Auth::default()
    }

    /// Whether both roles need a token.
    pub fn is_complete(&self) -> bool {
        self.client.is_some() && self.worker.is_some()
    }

    /// Refuses one token for both roles: a client could then act as a
    /// worker (and receive every job's data), and a worker as a client.
    pub fn check_distinct(&self) -> Result<(), SecurityError> {
        match (&self.client, &self.worker) {
            (Some(c), Some(w)) if c.matches(w.0.as_bytes()) => Err(SecurityError::SameToken),
            _ => Ok(()),
        }
    }

    /// Checks that a request's token allows `role` to call `method`.
    pub fn check(&self, metadata: &MetadataMap, role: Role, method: &str) -> Result<(), Status> {
        let needed = match role {
            Role::Client => &self.client,
            Role::Worker => &self.worker,
        };
        let Some(needed) = needed else {
            return Ok(());
        };
        let presented = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Status::unauthenticated(format!(
                    "{method} needs a {role} token (--token-file, or MR_{}_TOKEN)",
                    role.to_string().to_uppercase()
                ))
            })?;
        if needed.matches(presented.as_bytes()) {
            return Ok(());
        }
        let other = match role {
            Role::Client => &self.worker,
            Role::Worker => &self.client,
        };
        if other
            .as_ref()
            .is_some_and(|t| t.matches(presented.as_bytes()))
        {
            return Err(Status::permission_denied(format!(
                "{method} is for {role}s; this token's role may not call it"
            )));
        }
        Err(Status::unauthenticated(format!("{method}: invalid token")))
    }
}

/// Adds our token (if any) to every outgoing request.
#[derive(Clone, Default)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "BearerToken(***)"
        } else {
            "BearerToken(none)"
        })
    }
}

impl BearerToken {
    /// Sends `token`, or nothing.
    pub fn new(token: Option<&Token>) -> Self {
        BearerToken(token.and_then(Token::header))
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(token: Option<&str>) -> MetadataMap {
        let mut m = MetadataMap::new();
        if let Some(t) = token {
            m.insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        m
    }

    fn auth() -> Auth {
        Auth {
            client: Some(Token::new("client-secret").unwrap()),
            worker: Some(Token::new("worker-secret").unwrap()),
        }
    }

    #[test]
    fn roles_are_checked() {
        let a = auth();
        assert!(a
            .check(&md(Some("client-secret")), Role::Client, "SubmitJob")
            .is_ok());
        assert!(a
            .check(&md(Some("worker-secret")), Role::Worker, "GetTask")
            .is_ok());
        let e = a.check(&md(None), Role::Client, "SubmitJob").unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert_eq!(
            e.message(),
            "SubmitJob needs a client token (--token-file, or MR_CLIENT_TOKEN)"
        );
        let e = a
            .check(&md(Some("nope")), Role::Worker, "GetTask")
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert_eq!(e.message(), "GetTask: invalid token");
        let e = a
            .check(&md(Some("client-secret")), Role::Worker, "Register")
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        let e = a
            .check(&md(Some("worker-secret")), Role::Client, "SubmitJob")
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert!(Auth::open()
            .check(&md(None), Role::Worker, "GetTask")
            .is_ok());
    }

    #[test]
    fn one_token_for_both_roles_is_refused() {
        assert!(auth().check_distinct().is_ok());
        let same = Auth {
            client: Some(Token::new("same").unwrap()),
            worker: Some(Token::new(" same\n").unwrap()),
        };
        let e = same.check_distinct().unwrap_err();
        assert!(e.to_string().contains("same"), "{e}");
        assert!(Auth::open().check_distinct().is_ok());
    }

    #[test]
    fn tokens_compare_exactly_and_hide_in_debug() {
        let t = Token::new(" s3cret\n").unwrap();
        assert!(t.matches(b"s3cret"));
        assert!(!t.matches(b"s3cre"));
        assert!(!t.matches(b"s3cret2"));
        assert!(!t.matches(b""));
        assert_eq!(format!("{t:?}"), "Token(***)");
        assert!(Token::new("  ").is_err());
        assert!(Token::new("has space").is_err());
    }
}
