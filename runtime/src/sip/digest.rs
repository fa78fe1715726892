//! Digest authentication on the server side (RFC 7616, with the MD5
//! responses of RFC 2617), as SIP uses it for REGISTER and INVITE (RFC 3261
//! section 22.4).
//!
//! Nonces are stateless: each carries its issue time and 8 random bytes,
//! signed with HMAC-SHA256 under a key drawn once per process, so a nonce
//! is checked without a table and a restart invalidates every nonce.
//! Passwords are never stored: a [`Credential`] contains the HA1 hashes,
//! `H(username:realm:password)` in lowercase hex.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// How long a nonce is accepted after it is issued.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The longest Authorization value parsed; longer values are rejected
/// before parsing.
const MAX_AUTHORIZATION_LEN: usize = 4096;

/// Bytes of a nonce before its signature: issue time in milliseconds
/// (big-endian u64) and 8 random bytes.
const NONCE_PAYLOAD_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// A hash algorithm of digest authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5, the algorithm of RFC 2617 that every SIP phone supports.
    Md5,
    /// SHA-256 (RFC 7616).
    Sha256,
}

impl Algorithm {
    /// Returns the name used in the `algorithm` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Hashes `data` and returns the digest in lowercase hex.
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => to_hex(&md5::Md5::digest(data)),
            Algorithm::Sha256 => to_hex(&Sha256::digest(data)),
        }
    }

    fn parse(name: &str) -> Option<Algorithm> {
        if name.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if name.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }
}

/// The stored secret of one SIP user: its agent and its HA1 hashes.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The agent this SIP user belongs to.
    pub agent_id: String,
    /// `MD5(username:realm:password)` in lowercase hex.
    pub ha1_md5: String,
    /// `SHA-256(username:realm:password)` in lowercase hex.
    pub ha1_sha256: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // HA1 is as good as the password for this realm, so it is never
        // printed.
        formatter
            .debug_struct("Credential")
            .field("agent_id", &self.agent_id)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// Builds the credential of `username` with `password` in `realm`.
    pub fn from_password(
        agent_id: &str,
        username: &str,
        realm: &str,
        password: &str,
    ) -> Credential {
        Credential {
            agent_id: agent_id.to_string(),
            ha1_md5: ha1(Algorithm::Md5, username, realm, password),
            ha1_sha256: ha1(Algorithm::Sha256, username, realm, password),
        }
    }

    fn ha1(&self, algorithm: Algorithm) -> &str {
        match algorithm {
            Algorithm::Md5 => &self.ha1_md5,
            Algorithm::Sha256 => &self.ha1_sha256,
        }
    }
}

/// Returns `H(username:realm:password)` in lowercase hex.
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.hash_hex(format!("{username}:{realm}:{password}").as_bytes())
}

/// The future of a credential lookup.
pub type CredentialFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Credential>, String>> + Send + 'a>>;

/// The source of SIP users' credentials, such as the agent table.
pub trait Credentials: Send + Sync {
    /// Looks up the credential of `sip_user`: `None` when no agent has that
    /// SIP user, an error when the source cannot be read.
    fn credential(&self, sip_user: &str) -> CredentialFuture<'_>;
}

/// Credentials held in memory, for tests and fixed deployments.
#[derive(Clone, Debug, Default)]
pub struct StaticCredentials {
    users: HashMap<String, Credential>,
}

impl StaticCredentials {
    /// Creates an empty set.
    pub fn new() -> StaticCredentials {
        StaticCredentials::default()
    }

    /// Adds `sip_user` of `agent_id` with `password` in `realm`.
    pub fn with_password(
        mut self,
        sip_user: &str,
        agent_id: &str,
        realm: &str,
        password: &str,
    ) -> StaticCredentials {
        let credential = Credential::from_password(agent_id, sip_user, realm, password);
        self.users.insert(sip_user.to_string(), credential);
        self
    }

    /// Adds or replaces the credential of `sip_user`.
    pub fn insert(&mut self, sip_user: &str, credential: Credential) {
        self.users.insert(sip_user.to_string(), credential);
    }
}

impl Credentials for StaticCredentials {
    fn credential(&self, sip_user: &str) -> CredentialFuture<'_> {
        let found = self.users.get(sip_user).cloned();
        Box::pin(async move { Ok(found) })
    }
}

/// A parsed `Authorization` (or `Proxy-Authorization`) value of the
/// Digest scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The SIP user.
    pub username: String,
    /// The realm the client answers.
    pub realm: String,
    /// The nonce the client answers.
    pub nonce: String,
    /// The digest-uri, which must equal the Request-URI.
    pub uri: String,
    /// The client's response, lowercase hex.
    pub response: String,
    /// The hash algorithm; MD5 when the parameter is missing.
    pub algorithm: Algorithm,
    /// The quality of protection chosen (`auth`), when present.
    pub qop: Option<String>,
    /// The nonce count, 8 hex digits, with `qop`.
    pub nc: Option<String>,
    /// The client nonce, with `qop`.
    pub cnonce: Option<String>,
}

/// The reason an Authorization value cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    /// The scheme is not Digest.
    #[error("the scheme is not Digest")]
    Scheme,
    /// The value breaks the auth-param syntax.
    #[error("invalid Digest parameters: {0}")]
    Syntax(String),
    /// A required parameter is missing.
    #[error("the Digest parameter `{0}` is missing")]
    Missing(&'static str),
    /// The algorithm is neither MD5 nor SHA-256.
    #[error("the algorithm `{0}` is not supported; use MD5 or SHA-256")]
    Algorithm(String),
}

impl Authorization {
    /// Parses `Digest name=value, ...` where each value is a token or a
    /// quoted string. A repeated parameter is an error.
    pub fn parse(value: &str) -> Result<Authorization, AuthorizationError> {
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Err(AuthorizationError::Syntax(format!(
                "the value is longer than {MAX_AUTHORIZATION_LEN} bytes"
            )));
        }
        let value = value.trim_start();
        let scheme_end = value
            .find(|c: char| c.is_ascii_whitespace())
            .ok_or(AuthorizationError::Scheme)?;
        let (scheme, rest) = value.split_at(scheme_end);
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthorizationError::Scheme);
        }
        let params = parse_auth_params(rest)?;
        let take = |name: &'static str| params.get(name).cloned();
        let require = |name: &'static str| take(name).ok_or(AuthorizationError::Missing(name));
        let algorithm = match take("algorithm") {
            None => Algorithm::Md5,
            Some(name) => {
                Algorithm::parse(&name).ok_or(AuthorizationError::Algorithm(name.clone()))?
            }
        };
        Ok(Authorization {
            username: require("username")?,
            realm: require("realm")?,
            nonce: require("nonce")?,
            uri: require("uri")?,
            response: require("response")?,
            algorithm,
            qop: take("qop"),
            nc: take("nc"),
            cnonce: take("cnonce"),
        })
    }
}

/// Parses a comma-separated list of `name=token` or `name="quoted"`; names
/// are lowercased, quoted values unescaped.
fn parse_auth_params(text: &str) -> Result<HashMap<String, String>, AuthorizationError> {
    let syntax = |message: &str| AuthorizationError::Syntax(message.to_string());
    let mut params = HashMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars
            .next_if(|c| c.is_ascii_whitespace() || *c == ',')
            .is_some()
        {}
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| is_token_char(*c)) {
            name.push(c.to_ascii_lowercase());
        }
        if name.is_empty() {
            return Err(syntax("a parameter name is missing"));
        }
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(AuthorizationError::Syntax(format!(
                "`=` is missing after `{name}`"
            )));
        }
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => return Err(syntax("a quoted string is not closed")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(syntax("a quoted string ends with `\\`")),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| is_token_char(*c)) {
                value.push(c);
            }
            if value.is_empty() {
                return Err(AuthorizationError::Syntax(format!(
                    "the value of `{name}` is missing"
                )));
            }
        }
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        match chars.next() {
            None | Some(',') => {}
            Some(other) => {
                return Err(AuthorizationError::Syntax(format!(
                    "unexpected `{other}` after the value of `{name}`"
                )));
            }
        }
        if params.insert(name.clone(), value).is_some() {
            return Err(AuthorizationError::Syntax(format!(
                "the parameter `{name}` is repeated"
            )));
        }
    }
    Ok(params)
}

/// Token characters of RFC 3261 section 25.1, plus `/` for the base64 of
/// nonces some clients send unquoted.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~/".contains(c)
}

/// Computes the expected `response` (RFC 7616 section 3.4.1): with
/// `qop=auth`, `H(HA1:nonce:nc:cnonce:qop:H(method:uri))`, else the RFC
/// 2069 form `H(HA1:nonce:H(method:uri))`.
pub fn expected_response(
    algorithm: Algorithm,
    ha1: &str,
    authorization: &Authorization,
    method: &str,
) -> String {
    let ha2 = algorithm.hash_hex(format!("{method}:{}", authorization.uri).as_bytes());
    let nonce = &authorization.nonce;
    let text = match (&authorization.qop, &authorization.nc, &authorization.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
        }
        _ => format!("{ha1}:{nonce}:{ha2}"),
    };
    algorithm.hash_hex(text.as_bytes())
}

/// The result of checking an Authorization against a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The response is right and the nonce current: the user is
    /// authenticated as this agent.
    Valid(String),
    /// The response is right but the nonce expired: challenge again with
    /// `stale=true`.
    Stale,
    /// The Authorization does not answer this server's challenge (foreign
    /// or tampered nonce, other realm or URI, no `qop=auth`): challenge
    /// again. This is not a failed password.
    Unusable(&'static str),
    /// The response is wrong or the user is unknown; the two cases take
    /// the same path so the answer does not reveal which.
    Wrong,
}

/// The signing key and realm of one server's challenges.
pub struct DigestAuth {
    realm: String,
    key: [u8; 32],
    lifetime: Duration,
}

impl std::fmt::Debug for DigestAuth {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DigestAuth")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl DigestAuth {
    /// Creates the challenges of `realm` with a key drawn from the
    /// operating system's random source.
    pub fn new(realm: &str) -> Result<DigestAuth, String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|error| format!("cannot draw the digest nonce key: {error}"))?;
        Ok(DigestAuth::with_key(realm, key))
    }

    /// Creates the challenges of `realm` signed with `key`.
    pub fn with_key(realm: &str, key: [u8; 32]) -> DigestAuth {
        DigestAuth {
            realm: realm.to_string(),
            key,
            lifetime: NONCE_LIFETIME,
        }
    }

    /// Returns the realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Issues a nonce at `now_ms` (milliseconds since the Unix epoch).
    pub fn nonce(&self, now_ms: u64) -> String {
        let mut random = [0u8; 8];
        // A failing random source only makes two nonces of the same
        // millisecond equal, which the signature still covers.
        let _ = getrandom::fill(&mut random);
        let mut bytes = Vec::with_capacity(NONCE_PAYLOAD_LEN + 32);
        bytes.extend_from_slice(&now_ms.to_be_bytes());
        bytes.extend_from_slice(&random);
        let signature = self.sign(&bytes);
        bytes.extend_from_slice(&signature);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Returns the values of the two `WWW-Authenticate` headers of a
    /// challenge, MD5 first, because clients that read only one header
    /// take the first and every phone supports MD5.
    pub fn challenges(&self, now_ms: u64, stale: bool) -> [String; 2] {
        let nonce = self.nonce(now_ms);
        let stale = if stale { ", stale=true" } else { "" };
        [Algorithm::Md5, Algorithm::Sha256].map(|algorithm| {
            format!(
                "Digest realm=\"{}\", nonce=\"{nonce}\", qop=\"auth\", algorithm={}{stale}",
                escape_quoted(&self.realm),
                algorithm.as_str()
            )
        })
    }

    /// Checks `authorization` of a request with `method` and `request_uri`
    /// against `credential` (`None` for an unknown user) at `now_ms`.
    pub fn verify(
        &self,
        authorization: &Authorization,
        method: &str,
        request_uri: &str,
        credential: Option<&Credential>,
        now_ms: u64,
    ) -> Verdict {
        if authorization.realm != self.realm {
            return Verdict::Unusable("the realm is not this server's");
        }
        if authorization.uri != request_uri {
            return Verdict::Unusable("the digest uri differs from the Request-URI");
        }
        let qop_auth = authorization
            .qop
            .as_deref()
            .is_some_and(|qop| qop.eq_ignore_ascii_case("auth"));
        if !qop_auth {
            return Verdict::Unusable("qop=auth is missing");
        }
        let nc_valid = authorization
            .nc
            .as_deref()
            .is_some_and(|nc| nc.len() == 8 && nc.chars().all(|c| c.is_ascii_hexdigit()));
        if !nc_valid {
            return Verdict::Unusable("nc is not 8 hex digits");
        }
        if authorization.cnonce.as_deref().is_none_or(str::is_empty) {
            return Verdict::Unusable("cnonce is missing");
        }
        // NOTE: nonce counts are not tracked, so a captured Authorization
        // can be replayed for the same method and URI while its nonce lives.
        let Some(issued_ms) = self.nonce_time(&authorization.nonce) else {
            return Verdict::Unusable("the nonce was not issued by this server");
        };

        // An unknown user is checked against a throwaway HA1, so it takes
        // the same steps as a wrong password.
        let throwaway;
        let ha1 = match credential {
            Some(credential) => credential.ha1(authorization.algorithm),
            None => {
                throwaway = authorization.algorithm.hash_hex(&self.key);
                &throwaway
            }
        };
        let expected = expected_response(authorization.algorithm, ha1, authorization, method);
        let given = authorization.response.to_ascii_lowercase();
        let matches: bool = expected.as_bytes().ct_eq(given.as_bytes()).into();
        let Some(credential) = credential.filter(|_| matches) else {
            return Verdict::Wrong;
        };
        let lifetime_ms = u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX);
        if now_ms.saturating_sub(issued_ms) > lifetime_ms || issued_ms > now_ms.saturating_add(1000)
        {
            return Verdict::Stale;
        }
        Verdict::Valid(credential.agent_id.clone())
    }

    /// Returns the issue time of a nonce this server signed.
    fn nonce_time(&self, nonce: &str) -> Option<u64> {
        let bytes = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        let (payload, signature) = bytes.split_at_checked(NONCE_PAYLOAD_LEN)?;
        let mut mac = self.mac();
        mac.update(payload);
        mac.verify_slice(signature).ok()?;
        let time: [u8; 8] = payload.get(..8)?.try_into().ok()?;
        Some(u64::from_be_bytes(time))
    }

    fn sign(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }

    fn mac(&self) -> HmacSha256 {
        // The key is 32 bytes and HMAC takes a key of any length, so the
        // fallback to an all-zero key is never taken.
        match <HmacSha256 as KeyInit>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => <HmacSha256 as KeyInit>::new(&Default::default()),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

fn escape_quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests;
