//! SIP message types and their serialization (RFC 3261 section 7).
//!
//! Header names are stored in their full canonical form (`v` becomes
//! `Via`), values with folded lines joined, so lookups never depend on how
//! the peer wrote a header.

use std::fmt::Write as _;

/// The SIP version this server speaks.
pub const VERSION: &str = "SIP/2.0";

/// One header row as received or to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Canonical full name, such as `Call-ID`.
    pub name: String,
    /// Value with leading and trailing white space removed.
    pub value: String,
}

/// The headers of a message in their order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// Appends a header row.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push(Header {
            name: canonical_name(name),
            value: value.into(),
        });
    }

    /// Inserts a header row before every other row.
    pub fn insert_first(&mut self, name: &str, value: impl Into<String>) {
        let header = Header {
            name: canonical_name(name),
            value: value.into(),
        };
        self.0.insert(0, header);
    }

    /// Returns the value of the first row named `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.rows(name).next().map(|h| h.value.as_str())
    }

    /// Returns every row named `name`, in order.
    pub fn rows<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Header> + 'a {
        let name = canonical_name(name);
        self.0.iter().filter(move |h| h.name == name)
    }

    /// Returns every comma-separated value of the rows named `name`, for
    /// headers whose grammar is a list (Via, Require, Route). Commas inside
    /// quotes and angle brackets do not split.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.rows(name).flat_map(|h| split_list(&h.value)).collect()
    }

    /// Removes every row named `name`.
    pub fn remove(&mut self, name: &str) {
        let name = canonical_name(name);
        self.0.retain(|h| h.name != name);
    }

    /// Replaces every row named `name` with one row.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let canonical = canonical_name(name);
        let value = value.into();
        match self.0.iter().position(|h| h.name == canonical) {
            Some(first) => {
                let mut index = 0;
                self.0.retain(|h| {
                    let keep = h.name != canonical || index == first;
                    index += 1;
                    keep
                });
                if let Some(row) = self.0.get_mut(first) {
                    row.value = value;
                }
            }
            None => self.push(name, value),
        }
    }

    /// Returns every row in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }
}

/// A SIP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method token as written, such as `INVITE`.
    pub method: String,
    /// The Request-URI as written.
    pub uri: String,
    /// The headers in order.
    pub headers: Headers,
    /// The body, exactly Content-Length bytes.
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code, 100 to 699.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The headers in order.
    pub headers: Headers,
    /// The body, exactly Content-Length bytes.
    pub body: Vec<u8>,
}

/// A request or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Request {
    /// Returns the CSeq sequence number, when the header is valid.
    pub fn cseq_number(&self) -> Option<u32> {
        let value = self.headers.get("CSeq")?;
        value.split_whitespace().next()?.parse().ok()
    }

    /// Builds a response to this request (RFC 3261 section 8.2.6.2): Via,
    /// From, To, Call-ID and CSeq are copied, and `to_tag` is added to To
    /// when the To has no tag yet.
    pub fn response(&self, status: u16, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::default();
        for row in self.headers.rows("Via") {
            headers.push("Via", row.value.clone());
        }
        if let Some(from) = self.headers.get("From") {
            headers.push("From", from);
        }
        if let Some(to) = self.headers.get("To") {
            let to = match to_tag {
                Some(tag) if super::header::param(to, "tag").is_none() => format!("{to};tag={tag}"),
                _ => to.to_string(),
            };
            headers.push("To", to);
        }
        for name in ["Call-ID", "CSeq"] {
            if let Some(value) = self.headers.get(name) {
                headers.push(name, value);
            }
        }
        Response {
            status,
            reason: reason_phrase(status).to_string(),
            headers,
            body: Vec::new(),
        }
    }

    /// Serializes the request with a Content-Length that matches the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let start = format!("{} {} {VERSION}\r\n", self.method, self.uri);
        serialize(start, &self.headers, &self.body)
    }
}

impl Response {
    /// Serializes the response with a Content-Length that matches the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let start = format!("{VERSION} {} {}\r\n", self.status, self.reason);
        serialize(start, &self.headers, &self.body)
    }
}

impl Message {
    /// Returns the headers of either kind.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }
}

fn serialize(mut text: String, headers: &Headers, body: &[u8]) -> Vec<u8> {
    for row in headers.iter().filter(|h| h.name != "Content-Length") {
        let _ = write!(text, "{}: {}\r\n", row.name, row.value);
    }
    let _ = write!(text, "Content-Length: {}\r\n\r\n", body.len());
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Compact forms of RFC 3261 section 7.3.3 and later RFCs, and the usual
/// spelling of the full names.
const NAMES: [(&str, &str); 28] = [
    ("a", "Accept-Contact"),
    ("b", "Referred-By"),
    ("c", "Content-Type"),
    ("d", "Request-Disposition"),
    ("e", "Content-Encoding"),
    ("f", "From"),
    ("i", "Call-ID"),
    ("j", "Reject-Contact"),
    ("k", "Supported"),
    ("l", "Content-Length"),
    ("m", "Contact"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("s", "Subject"),
    ("t", "To"),
    ("u", "Allow-Events"),
    ("v", "Via"),
    ("x", "Session-Expires"),
    ("y", "Identity"),
    ("call-id", "Call-ID"),
    ("cseq", "CSeq"),
    ("www-authenticate", "WWW-Authenticate"),
    ("p-asserted-identity", "P-Asserted-Identity"),
    ("mime-version", "MIME-Version"),
    ("rseq", "RSeq"),
    ("rack", "RAck"),
    ("sip-etag", "SIP-ETag"),
    ("sip-if-match", "SIP-If-Match"),
];

/// Returns the canonical full form of a header name: compact forms are
/// expanded and the case is normalized to `Word-Word`.
pub fn canonical_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if let Some((_, full)) = NAMES.iter().find(|(short, _)| *short == lower) {
        return (*full).to_string();
    }
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for ch in lower.chars() {
        out.push(if upper { ch.to_ascii_uppercase() } else { ch });
        upper = ch == '-';
    }
    out
}

/// Splits a header value at top-level commas, keeping commas inside quoted
/// strings and angle brackets; empty pieces are kept so a caller can
/// reject them.
pub fn split_list(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut angle = false;
    for ch in value.chars() {
        if escaped {
            escaped = false;
        } else if quoted && ch == '\\' {
            escaped = true;
        } else if ch == '"' {
            quoted = !quoted;
        } else if !quoted && ch == '<' {
            angle = true;
        } else if !quoted && ch == '>' {
            angle = false;
        } else if !quoted && !angle && ch == ',' {
            parts.push(current.trim().to_string());
            current.clear();
            continue;
        }
        current.push(ch);
    }
    parts.push(current.trim().to_string());
    parts
}

/// Returns the standard reason phrase of a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Unknown",
    }
}
