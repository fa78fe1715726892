//! Parsing SIP messages from bytes and framing them (RFC 3261 sections 7
//! and 18.3).
//!
//! The head is decoded as UTF-8 with invalid bytes replaced, so NUL and
//! non-UTF-8 bytes never panic; the body is kept as raw bytes. A request
//! that is read far enough to be answered but is invalid becomes
//! [`ParseError::BadRequest`] carrying the status and reason to send.

use super::header::{CSeq, NameAddr, Uri, Via, is_token};
use super::message::{Headers, Message, Request, Response, VERSION, canonical_name};

/// Why bytes did not become a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing can be answered: the bytes are dropped.
    Unreadable(String),
    /// An invalid response, dropped silently (RFC 4475 section 3.1.2).
    BadResponse(String),
    /// An invalid request that gets this status and reason phrase.
    BadRequest {
        /// 400, or 505 for an unsupported SIP version.
        status: u16,
        /// Reason phrase naming the problem.
        reason: String,
        /// The request as far as it was read, for building the answer.
        request: Box<Request>,
    },
}

/// Headers that may appear only once (RFC 3261 section 7.3.1).
const SINGLE: [&str; 7] = [
    "To",
    "From",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Type",
    "Content-Length",
];

/// Parses one datagram (RFC 3261 section 18.3): bytes after Content-Length
/// are ignored, and a missing Content-Length means the rest of the
/// datagram.
pub fn parse_datagram(bytes: &[u8]) -> Result<Message, ParseError> {
    let bytes = trim_leading_crlf(bytes);
    let (head, body_start) = split_head(bytes)
        .ok_or_else(|| ParseError::Unreadable(String::from("no empty line after the headers")))?;
    let rest = bytes.get(body_start..).unwrap_or_default();
    parse_parts(head, rest, false)
}

/// Skips CRLFs sent before a message, such as keepalives (section 7.5).
pub fn trim_leading_crlf(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Returns the head and the offset of the body, accepting bare LF lines.
pub fn split_head(bytes: &[u8]) -> Option<(&[u8], usize)> {
    let crlf = find(bytes, b"\r\n\r\n").map(|at| (at, at + 4));
    let lf = find(bytes, b"\n\n").map(|at| (at, at + 2));
    let (end, body) = match (crlf, lf) {
        (Some(a), Some(b)) => {
            if a.0 < b.0 {
                a
            } else {
                b
            }
        }
        (a, b) => a.or(b)?,
    };
    Some((bytes.get(..end)?, body))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a head and the bytes after it. `stream` is true for TCP, where
/// the framer has already cut the body to Content-Length.
pub fn parse_parts(head: &[u8], rest: &[u8], stream: bool) -> Result<Message, ParseError> {
    let head = String::from_utf8_lossy(head);
    let mut lines = unfold(&head).into_iter();
    let start = lines
        .next()
        .ok_or_else(|| ParseError::Unreadable(String::from("empty message")))?;
    let mut headers = Headers::default();
    let mut header_error = None;
    for line in lines {
        match split_header(&line) {
            Some((name, value)) => headers.push(name, value),
            None => header_error = Some(format!("invalid header line `{line}`")),
        }
    }
    let length = content_length(&headers);
    let start = start.trim_end();
    if start.starts_with("SIP/") {
        return parse_response(start, headers, rest, length, header_error);
    }
    let mut request = start_request(start, headers)?;
    let body = match length {
        Ok(Some(n)) if n <= rest.len() => rest.get(..n).unwrap_or_default(),
        Ok(Some(_)) => {
            request.body = rest.to_vec();
            return Err(bad(request, "Content-Length larger than the body"));
        }
        Ok(None) if stream => return Err(bad(request, "missing Content-Length")),
        Ok(None) => rest,
        Err(reason) => return Err(bad(request, &reason)),
    };
    request.body = body.to_vec();
    if let Some(reason) = header_error {
        return Err(bad(request, &reason));
    }
    validate_request(request).map(Message::Request)
}

fn bad(request: Request, reason: &str) -> ParseError {
    ParseError::BadRequest {
        status: 400,
        reason: reason.to_string(),
        request: Box::new(request),
    }
}

/// Joins folded lines (a line starting with white space continues the
/// previous one, RFC 3261 section 7.3.1).
fn unfold(head: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in head.split('\n') {
        // The start line is never continued.
        let count = lines.len();
        let line = line.strip_suffix('\r').unwrap_or(line);
        match lines.last_mut() {
            Some(previous) if line.starts_with([' ', '\t']) && count > 1 => {
                previous.push(' ');
                previous.push_str(line.trim());
            }
            _ => lines.push(line.to_string()),
        }
    }
    lines
}

fn split_header(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    let name = name.trim_end();
    is_token(name).then_some((name, value.trim()))
}

fn content_length(headers: &Headers) -> Result<Option<usize>, String> {
    let values = headers.list("Content-Length");
    let mut length = None;
    for value in values {
        let parsed = value
            .parse::<usize>()
            .ok()
            .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("invalid Content-Length `{value}`"))?;
        if length.is_some_and(|l| l != parsed) {
            return Err(String::from("several different Content-Length values"));
        }
        length = Some(parsed);
    }
    Ok(length)
}

fn parse_response(
    start: &str,
    headers: Headers,
    rest: &[u8],
    length: Result<Option<usize>, String>,
    header_error: Option<String>,
) -> Result<Message, ParseError> {
    let mut parts = start.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    let reason = parts.next().unwrap_or_default();
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|s| (100..=699).contains(s) && code.len() == 3)
        .ok_or_else(|| ParseError::BadResponse(format!("invalid status code `{code}`")))?;
    if version != VERSION {
        return Err(ParseError::BadResponse(format!(
            "unsupported version `{version}`"
        )));
    }
    if let Some(reason) = header_error {
        return Err(ParseError::BadResponse(reason));
    }
    let body = match length {
        Ok(Some(n)) => rest.get(..n).ok_or_else(|| {
            ParseError::BadResponse(String::from("Content-Length larger than the body"))
        })?,
        Ok(None) => rest,
        Err(reason) => return Err(ParseError::BadResponse(reason)),
    };
    for via in headers.list("Via") {
        Via::parse(&via).map_err(ParseError::BadResponse)?;
    }
    if let Err(reason) = headers.get("CSeq").map(CSeq::parse).transpose() {
        return Err(ParseError::BadResponse(reason));
    }
    Ok(Message::Response(Response {
        status,
        reason: reason.to_string(),
        headers,
        body: body.to_vec(),
    }))
}

/// Reads the Request-Line. Exactly one space separates the parts, but
/// trailing white space is accepted (RFC 4475 leaves `trws` to the
/// implementation).
fn start_request(start: &str, headers: Headers) -> Result<Request, ParseError> {
    let parts: Vec<&str> = start.split(' ').collect();
    let mut request = Request {
        method: String::new(),
        uri: String::new(),
        headers,
        body: Vec::new(),
    };
    let [method, uri, version] = parts.as_slice() else {
        if let [method, ..] = parts.as_slice() {
            request.method = (*method).to_string();
        }
        return Err(bad(request, "malformed Request-Line"));
    };
    request.method = (*method).to_string();
    request.uri = (*uri).to_string();
    if !is_token(method) {
        return Err(bad(request, "invalid method"));
    }
    if *version != VERSION {
        let status = if version.starts_with("SIP/") {
            505
        } else {
            400
        };
        return Err(ParseError::BadRequest {
            status,
            reason: format!("Version Not Supported: {version}"),
            request: Box::new(request),
        });
    }
    Ok(request)
}

/// Checks the headers every request needs (RFC 3261 section 8.1.1) and the
/// values the server reads.
fn validate_request(request: Request) -> Result<Request, ParseError> {
    if let Err(reason) = check_request(&request) {
        return Err(bad(request, &reason));
    }
    Ok(request)
}

fn check_request(request: &Request) -> Result<(), String> {
    let uri = Uri::parse(&request.uri)?;
    if let Uri::Sip {
        has_headers: true, ..
    } = uri
    {
        return Err(String::from("headers are not allowed in the Request-URI"));
    }
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if request.headers.get(name).is_none() {
            return Err(format!("missing {name} header"));
        }
    }
    for name in SINGLE {
        if request.headers.rows(name).count() > 1 {
            return Err(format!("several {name} headers"));
        }
    }
    for via in request.headers.list("Via") {
        Via::parse(&via)?;
    }
    for name in ["From", "To"] {
        NameAddr::parse(request.headers.get(name).unwrap_or_default())?;
    }
    for contact in request.headers.list("Contact") {
        NameAddr::parse(&contact)?;
    }
    let cseq = CSeq::parse(request.headers.get("CSeq").unwrap_or_default())?;
    if cseq.method != request.method {
        return Err(String::from(
            "CSeq method does not match the request method",
        ));
    }
    if let Some(value) = request.headers.get("Max-Forwards") {
        // Leading zeros are allowed (`0068` is 68); the value fits a byte.
        let digits = value.trim_start_matches('0');
        let valid = value.bytes().all(|b| b.is_ascii_digit())
            && !value.is_empty()
            && (digits.is_empty() || digits.parse::<u8>().is_ok());
        if !valid {
            return Err(format!("invalid Max-Forwards `{value}`"));
        }
    }
    if request.headers.get("Call-ID").is_some_and(str::is_empty) {
        return Err(String::from("empty Call-ID"));
    }
    Ok(())
}

/// What the stream framer found at the front of its buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// A whole message of this many bytes, leading CRLFs included.
    Message(usize),
    /// Only CRLF keepalives, this many bytes.
    Keepalive(usize),
    /// More bytes are needed.
    Incomplete,
    /// The head lacks a valid Content-Length; the stream cannot be framed.
    Invalid(String),
}

/// Finds the end of the first message in a TCP stream buffer (RFC 3261
/// section 18.3): Content-Length is required and counts the body.
pub fn frame_stream(buffer: &[u8]) -> Framed {
    let skipped = buffer.len() - trim_leading_crlf(buffer).len();
    if skipped == buffer.len() {
        return if skipped == 0 {
            Framed::Incomplete
        } else {
            Framed::Keepalive(skipped)
        };
    }
    if skipped > 0 {
        return Framed::Keepalive(skipped);
    }
    let Some((head, body_start)) = split_head(buffer) else {
        return Framed::Incomplete;
    };
    let head = String::from_utf8_lossy(head);
    let mut headers = Headers::default();
    for line in unfold(&head).iter().skip(1) {
        if let Some((name, value)) = split_header(line)
            && canonical_name(name) == "Content-Length"
        {
            headers.push(name, value);
        }
    }
    match content_length(&headers) {
        Ok(Some(length)) if buffer.len() >= body_start + length => {
            Framed::Message(body_start + length)
        }
        Ok(Some(_)) => Framed::Incomplete,
        Ok(None) => Framed::Invalid(String::from("missing Content-Length")),
        Err(reason) => Framed::Invalid(reason),
    }
}
