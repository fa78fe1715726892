//! Structured reading of the headers the server acts on: Via, the
//! name-addr headers (From, To, Contact), CSeq and URIs (RFC 3261 section
//! 25.1). Each reader returns a reason on invalid input, which becomes the
//! reason phrase of a 400 response.

/// One value of a Via header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// Transport token, upper case, such as `UDP`.
    pub transport: String,
    /// The sent-by host, without brackets for IPv6.
    pub host: String,
    /// The sent-by port, when written.
    pub port: Option<u16>,
    /// Parameters in order; a flag parameter has no value.
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    /// Parses one Via value such as `SIP/2.0/UDP host:5060;branch=z9hG4bK1`.
    pub fn parse(value: &str) -> Result<Via, String> {
        let (protocol, rest) = value
            .split_once('/')
            .ok_or_else(|| format!("invalid Via `{value}`"))?;
        let (version, rest) = rest
            .split_once('/')
            .ok_or_else(|| format!("invalid Via `{value}`"))?;
        if !protocol.trim().eq_ignore_ascii_case("SIP") || version.trim() != "2.0" {
            return Err(format!("invalid Via protocol in `{value}`"));
        }
        let rest = rest.trim_start();
        let split = rest
            .find(|c: char| c.is_ascii_whitespace())
            .ok_or_else(|| format!("invalid Via `{value}`: no sent-by"))?;
        let (transport, rest) = rest.split_at(split);
        if !is_token(transport) {
            return Err(format!("invalid Via transport `{transport}`"));
        }
        let mut pieces = rest.split(';');
        let sent_by = pieces.next().unwrap_or_default().trim();
        let (host, port) = parse_host_port(sent_by)?;
        let params = parse_params(pieces, value)?;
        Ok(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params,
        })
    }

    /// Returns the value of a parameter; `Some("")` for a flag.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_deref().unwrap_or(""))
    }

    /// Sets a parameter, replacing an existing one of the same name.
    pub fn set_param(&mut self, name: &str, value: &str) {
        match self
            .params
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(param) => param.1 = Some(value.to_string()),
            None => self
                .params
                .push((name.to_string(), Some(value.to_string()))),
        }
    }
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SIP/2.0/{} ", self.transport)?;
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            write!(f, "{}", self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        for (name, value) in &self.params {
            match value {
                Some(value) => write!(f, ";{name}={value}")?,
                None => write!(f, ";{name}")?,
            }
        }
        Ok(())
    }
}

/// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
pub fn parse_host_port(text: &str) -> Result<(String, Option<u16>), String> {
    let invalid = || format!("invalid host `{text}`");
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(invalid)?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(invalid());
        }
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(invalid()),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let host_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':');
    if host.is_empty() || !host.chars().all(host_chars) {
        return Err(invalid());
    }
    let port = match port {
        Some(port) => Some(port.trim().parse::<u16>().map_err(|_| invalid())?),
        None => None,
    };
    Ok((host.to_string(), port))
}

fn parse_params<'a>(
    pieces: impl Iterator<Item = &'a str>,
    whole: &str,
) -> Result<Vec<(String, Option<String>)>, String> {
    let mut params = Vec::new();
    for piece in pieces {
        let piece = piece.trim();
        let (name, value) = match piece.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().to_string())),
            None => (piece, None),
        };
        if !is_token(name) || value.as_deref() == Some("") {
            return Err(format!("invalid parameter `{piece}` in `{whole}`"));
        }
        params.push((name.to_string(), value));
    }
    Ok(params)
}

/// Returns whether `text` is a non-empty RFC 3261 token.
pub fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// A From, To or Contact value: an optional display name, a URI and
/// header parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name without quotes, when present.
    pub display: Option<String>,
    /// The URI as written.
    pub uri: String,
    /// Header parameters such as `tag`, as written after the URI.
    pub params: String,
}

impl NameAddr {
    /// Parses `"Name" <uri>;params`, `Name <uri>;params` or `uri;params`.
    pub fn parse(value: &str) -> Result<NameAddr, String> {
        let value = value.trim();
        if value == "*" {
            return Ok(NameAddr {
                display: None,
                uri: String::from("*"),
                params: String::new(),
            });
        }
        let (display, rest) = split_display(value)?;
        let (uri, params) = match rest.strip_prefix('<') {
            Some(inner) => {
                let (uri, params) = inner
                    .split_once('>')
                    .ok_or_else(|| format!("missing `>` in `{value}`"))?;
                if uri.trim() != uri || uri.is_empty() {
                    return Err(format!("white space inside `<>` in `{value}`"));
                }
                (uri, params)
            }
            None if display.is_some() => return Err(format!("missing `<` in `{value}`")),
            None => {
                let (uri, params) = match rest.find(';') {
                    Some(at) => rest.split_at(at),
                    None => (rest, ""),
                };
                let uri = uri.trim_end();
                if uri.contains(['?', ',', ' ', '<', '>', '"']) {
                    return Err(format!("a URI with `?` or `,` needs `<>` in `{value}`"));
                }
                (uri, params)
            }
        };
        Uri::parse(uri)?;
        if !params.trim().is_empty() {
            let pieces = params.trim().strip_prefix(';').ok_or_else(|| {
                format!(
                    "unexpected text `{}` after the URI in `{value}`",
                    params.trim()
                )
            })?;
            parse_params(pieces.split(';'), value)?;
        }
        Ok(NameAddr {
            display,
            uri: uri.to_string(),
            params: params.trim().to_string(),
        })
    }

    /// Returns the `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        param(&self.params, "tag")
    }
}

/// Splits a quoted or token display name from the rest of a name-addr.
fn split_display(value: &str) -> Result<(Option<String>, &str), String> {
    if let Some(inner) = value.strip_prefix('"') {
        let mut escaped = false;
        for (at, ch) in inner.char_indices() {
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                let name = inner.get(..at).unwrap_or_default();
                let rest = inner.get(at + 1..).unwrap_or_default().trim_start();
                return Ok((Some(unescape_quoted(name)), rest));
            }
        }
        return Err(format!("unterminated quoted string in `{value}`"));
    }
    match value.find('<') {
        Some(0) | None => Ok((None, value)),
        Some(at) => {
            let name = value.get(..at).unwrap_or_default().trim();
            let valid = name.split_whitespace().all(is_token);
            if !valid {
                return Err(format!("invalid display name `{name}`: quote it"));
            }
            Ok((Some(name.to_string()), value.get(at..).unwrap_or_default()))
        }
    }
}

fn unescape_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut escaped = false;
    for ch in text.chars() {
        if escaped || ch != '\\' {
            out.push(ch);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

/// Returns the value of `;name=value` in a parameter list such as
/// `;tag=1;lr`, ignoring case in the name. A flag returns `Some("")`.
pub fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    let after_uri = match params.rfind('>') {
        Some(at) => params.get(at + 1..).unwrap_or_default(),
        None => params,
    };
    after_uri.split(';').skip(1).find_map(|piece| {
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

/// A URI in a Request-URI or name-addr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uri {
    /// `sip:` or `sips:`.
    Sip {
        /// Whether the scheme is `sips`.
        secure: bool,
        /// The user part, percent-decoded, when present.
        user: Option<String>,
        /// The host, without brackets for IPv6.
        host: String,
        /// The port, when written.
        port: Option<u16>,
        /// Whether a `?headers` part is present.
        has_headers: bool,
    },
    /// `tel:` with the number as written.
    Tel(String),
    /// Any other scheme, kept opaque.
    Other(String),
}

impl Uri {
    /// Parses a URI; unknown schemes are kept as [`Uri::Other`].
    pub fn parse(text: &str) -> Result<Uri, String> {
        let invalid = || format!("invalid URI `{text}`");
        let (scheme, rest) = text.split_once(':').ok_or_else(invalid)?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok || text.contains(|c: char| c.is_whitespace() || c == '<' || c == '>') {
            return Err(invalid());
        }
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "sip" => false,
            "sips" => true,
            "tel" => {
                let number = rest.split(';').next().unwrap_or_default();
                return Ok(Uri::Tel(number.to_string()));
            }
            _ => return Ok(Uri::Other(text.to_string())),
        };
        // The user part may contain `?` and `;`, so it is cut off first.
        let (user, host_part) = match rest.rsplit_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or_default();
                (Some(percent_decode(user)), host)
            }
            None => (None, rest),
        };
        let (host_part, has_headers) = match host_part.split_once('?') {
            Some((host_part, _)) => (host_part, true),
            None => (host_part, false),
        };
        let host_port = host_part.split(';').next().unwrap_or_default();
        let (host, port) = parse_host_port(host_port).map_err(|_| invalid())?;
        Ok(Uri::Sip {
            secure,
            user,
            host,
            port,
            has_headers,
        })
    }

    /// Returns the user part of a SIP URI or the number of a tel URI.
    pub fn user(&self) -> Option<&str> {
        match self {
            Uri::Sip { user, .. } => user.as_deref(),
            Uri::Tel(number) => Some(number),
            Uri::Other(_) => None,
        }
    }
}

/// Decodes `%XX` escapes; invalid escapes are kept as written, and
/// decoded bytes that are not UTF-8 are replaced.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let hex = bytes
            .get(at + 1..at + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (byte, hex) {
            (b'%', Some(value)) => {
                out.push(value);
                at += 3;
            }
            _ => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A CSeq value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number, below 2^31 (RFC 3261 section 8.1.1.5).
    pub number: u32,
    /// Method token.
    pub method: String,
}

impl CSeq {
    /// Parses `number method`.
    pub fn parse(value: &str) -> Result<CSeq, String> {
        let mut parts = value.split_whitespace();
        let (Some(number), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("invalid CSeq `{value}`"));
        };
        let number = number
            .parse::<u32>()
            .ok()
            .filter(|n| *n < 1 << 31)
            .ok_or_else(|| format!("invalid CSeq number `{number}`: must be below 2^31"))?;
        if !is_token(method) {
            return Err(format!("invalid CSeq method `{method}`"));
        }
        Ok(CSeq {
            number,
            method: method.to_string(),
        })
    }
}
