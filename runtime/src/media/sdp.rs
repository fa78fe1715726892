//! SDP (RFC 8866) parsing and the offer/answer model (RFC 3264) for one
//! G.711 audio stream with RFC 4733 telephone-events.
//!
//! The parser keeps only what negotiation needs and skips lines it does not
//! know, so any text is accepted or rejected with an error, never a panic.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::g711::{CLOCK_RATE, Codec};

/// Packet duration used when the offer names none, in milliseconds.
pub const DEFAULT_PTIME_MS: u32 = 20;
/// Minimum packet duration sent, in milliseconds.
pub const MIN_PTIME_MS: u32 = 10;
/// Maximum packet duration sent, in milliseconds; longer offers are capped.
pub const MAX_PTIME_MS: u32 = 60;
/// Payload type of telephone-event in offers that flowd makes.
pub const OFFER_TELEPHONE_EVENT: u8 = 101;

/// An error parsing or negotiating a session description.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// A line that is not `<letter>=<value>`, or a value that does not parse.
    #[error("invalid SDP line {line}: `{text}`")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// No `m=audio` line with a non-zero port.
    #[error("SDP has no active audio stream")]
    NoAudio,
    /// The audio stream has no `c=` line, neither its own nor the session's.
    #[error("SDP audio stream has no connection address (`c=` line)")]
    NoConnection,
    /// No offered codec is PCMU or PCMA. SIP maps this to 488.
    #[error("no common codec: the offer has `{offered}`, flowd supports PCMU and PCMA")]
    NoCommonCodec {
        /// The offered formats with their names, comma-separated.
        offered: String,
    },
}

/// Media direction attributes (RFC 3264 section 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    /// Both ways; the default.
    #[default]
    SendRecv,
    /// The describing side only sends.
    SendOnly,
    /// The describing side only receives.
    RecvOnly,
    /// Neither side sends.
    Inactive,
}

impl Direction {
    fn parse(attribute: &str) -> Option<Direction> {
        match attribute {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// Returns the attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Returns the direction the other side uses in its answer.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }

    /// Returns true when the describing side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
}

/// An `a=rtpmap` attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpMap {
    /// The payload type.
    pub payload_type: u8,
    /// The encoding name, as written.
    pub encoding: String,
    /// The clock rate in Hz.
    pub clock_rate: u32,
}

/// One `m=` line with its attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, `application`, ...
    pub kind: String,
    /// The port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// The transport protocol, such as `RTP/AVP`.
    pub protocol: String,
    /// The formats (payload types for RTP) in order of preference.
    pub formats: Vec<String>,
    /// The media-level connection address.
    pub connection: Option<IpAddr>,
    /// The `a=rtpmap` attributes.
    pub rtpmaps: Vec<RtpMap>,
    /// The `a=fmtp` attributes: payload type and parameters.
    pub fmtps: Vec<(u8, String)>,
    /// The `a=ptime` value in milliseconds.
    pub ptime: Option<u32>,
    /// The `a=maxptime` value in milliseconds.
    pub maxptime: Option<u32>,
    /// The media-level direction.
    pub direction: Option<Direction>,
}

impl Media {
    fn new(kind: &str, port: u16, protocol: &str, formats: Vec<String>) -> Media {
        Media {
            kind: kind.to_owned(),
            port,
            protocol: protocol.to_owned(),
            formats,
            connection: None,
            rtpmaps: Vec::new(),
            fmtps: Vec::new(),
            ptime: None,
            maxptime: None,
            direction: None,
        }
    }

    /// Returns the payload types of an RTP stream in order; formats that
    /// are no payload type are skipped.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|format| format.parse::<u8>().ok())
            .filter(|payload_type| *payload_type < 128)
    }

    /// Returns the rtpmap of a payload type.
    pub fn rtpmap(&self, payload_type: u8) -> Option<&RtpMap> {
        self.rtpmaps
            .iter()
            .find(|map| map.payload_type == payload_type)
    }

    /// Returns the G.711 codec a payload type stands for: by its rtpmap when
    /// it has one, else by the static assignments of RFC 3551.
    pub fn codec(&self, payload_type: u8) -> Option<Codec> {
        match self.rtpmap(payload_type) {
            Some(map) if map.clock_rate == CLOCK_RATE => Codec::from_encoding_name(&map.encoding),
            Some(_) => None,
            None => match payload_type {
                0 => Some(Codec::Pcmu),
                8 => Some(Codec::Pcma),
                _ => None,
            },
        }
    }

    /// Returns the payload type of telephone-event at 8000 Hz, if offered.
    pub fn telephone_event(&self) -> Option<u8> {
        self.payload_types().find(|payload_type| {
            self.rtpmap(*payload_type).is_some_and(|map| {
                map.encoding.eq_ignore_ascii_case("telephone-event") && map.clock_rate == CLOCK_RATE
            })
        })
    }

    fn is_rtp(&self) -> bool {
        self.protocol.to_ascii_uppercase().starts_with("RTP/")
    }
}

/// A parsed session description.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SessionDescription {
    /// The session-level connection address.
    pub connection: Option<IpAddr>,
    /// The session-level direction.
    pub direction: Option<Direction>,
    /// The session-level `a=ptime`.
    pub ptime: Option<u32>,
    /// The `m=` lines in order.
    pub media: Vec<Media>,
}

impl SessionDescription {
    /// Parses an SDP body. Lines may end in CRLF or LF; unknown lines and
    /// attributes are skipped.
    pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
        let mut session = SessionDescription::default();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let syntax = || SdpError::Syntax {
                line: index + 1,
                text: line.to_owned(),
            };
            let Some((kind, value)) = line.split_once('=') else {
                return Err(syntax());
            };
            match kind {
                "m" => session
                    .media
                    .push(parse_media_line(value).ok_or_else(syntax)?),
                "c" => {
                    let address = parse_connection(value).ok_or_else(syntax)?;
                    match session.media.last_mut() {
                        Some(media) => media.connection = Some(address),
                        None => session.connection = Some(address),
                    }
                }
                "a" => session.parse_attribute(value).ok_or_else(syntax)?,
                _ if kind.len() == 1 => {}
                _ => return Err(syntax()),
            }
        }
        Ok(session)
    }

    /// Applies one `a=` line to the last media or to the session. Returns
    /// `None` when a known attribute has an invalid value.
    fn parse_attribute(&mut self, value: &str) -> Option<()> {
        let (name, argument) = match value.split_once(':') {
            Some((name, argument)) => (name.trim(), Some(argument.trim())),
            None => (value.trim(), None),
        };
        if let Some(direction) = Direction::parse(name) {
            match self.media.last_mut() {
                Some(media) => media.direction = Some(direction),
                None => self.direction = Some(direction),
            }
            return Some(());
        }
        let Some(argument) = argument else {
            return Some(());
        };
        match (name, self.media.last_mut()) {
            // ptime and maxptime are hints (RFC 4566 section 6), so a value
            // that is zero or no number is ignored rather than failing the call.
            ("ptime", Some(media)) => media.ptime = parse_milliseconds(argument),
            ("ptime", None) => self.ptime = parse_milliseconds(argument),
            ("maxptime", Some(media)) => media.maxptime = parse_milliseconds(argument),
            ("rtpmap", Some(media)) => media.rtpmaps.push(parse_rtpmap(argument)?),
            ("fmtp", Some(media)) => {
                let (payload_type, parameters) = argument
                    .split_once(char::is_whitespace)
                    .unwrap_or((argument, ""));
                let payload_type = payload_type.parse().ok()?;
                media
                    .fmtps
                    .push((payload_type, parameters.trim().to_owned()));
            }
            _ => {}
        }
        Some(())
    }

    /// Returns the first RTP audio stream with a non-zero port and its index.
    fn active_audio(&self) -> Option<(usize, &Media)> {
        self.media
            .iter()
            .enumerate()
            .find(|(_, media)| media.kind == "audio" && media.port != 0 && media.is_rtp())
    }
}

fn parse_media_line(value: &str) -> Option<Media> {
    let mut fields = value.split_whitespace();
    let kind = fields.next()?;
    // A port may carry a count (`49170/2`); only the first port is used.
    let port = fields.next()?.split('/').next()?.parse().ok()?;
    let protocol = fields.next()?;
    let formats = fields.map(str::to_owned).collect();
    Some(Media::new(kind, port, protocol, formats))
}

fn parse_connection(value: &str) -> Option<IpAddr> {
    let mut fields = value.split_whitespace();
    let network = fields.next()?;
    let _address_type = fields.next()?;
    let address = fields.next()?;
    if network != "IN" {
        return None;
    }
    // A multicast address may carry `/ttl/count`.
    address.split('/').next()?.parse().ok()
}

fn parse_rtpmap(argument: &str) -> Option<RtpMap> {
    let (payload_type, encoding) = argument.split_once(char::is_whitespace)?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next()?;
    let clock_rate = parts.next()?.parse().ok()?;
    Some(RtpMap {
        payload_type: payload_type.parse().ok()?,
        encoding: name.to_owned(),
        clock_rate,
    })
}

fn parse_milliseconds(argument: &str) -> Option<u32> {
    // RFC 4566 allows fractional ptime values such as `20.0`.
    let value: f64 = argument.parse().ok()?;
    (value.is_finite() && value > 0.0).then(|| value.round() as u32)
}

/// The local end of the audio stream, as written in descriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalMedia {
    /// The address to advertise in `c=` and `o=`.
    pub address: IpAddr,
    /// The local RTP port.
    pub port: u16,
    /// The `o=` session id, fixed for the dialog.
    pub session_id: u64,
    /// The `o=` version, increased for every new description in the dialog.
    pub session_version: u64,
}

/// The negotiated audio stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec flowd sends.
    pub codec: Codec,
    /// Its payload type.
    pub payload_type: u8,
    /// The payload type of telephone-events, when both sides support them.
    pub telephone_event: Option<u8>,
    /// The packet duration flowd sends, in milliseconds.
    pub ptime_ms: u32,
    /// The peer's RTP address, or `None` when the peer gave none (hold with
    /// 0.0.0.0).
    pub remote: Option<SocketAddr>,
    /// flowd's direction.
    pub direction: Direction,
}

impl Negotiated {
    /// Returns true when flowd sends RTP to the peer.
    pub fn sends(&self) -> bool {
        self.remote.is_some() && self.direction.sends()
    }
}

/// An answer to an offer: the negotiated stream and the SDP text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The stream flowd sets up.
    pub negotiated: Negotiated,
    /// The answer body.
    pub sdp: String,
}

/// Answers an offer: the first offered codec that is PCMU or PCMA,
/// telephone-event on the offer's payload type, the offer's ptime, and
/// every other stream rejected with port 0.
///
/// An offer that holds the call (`sendonly`, or connection 0.0.0.0) is
/// answered `recvonly`; an `inactive` offer is answered `inactive`.
pub fn answer(offer: &SessionDescription, local: &LocalMedia) -> Result<Answer, SdpError> {
    let (audio_index, audio) = offer.active_audio().ok_or(SdpError::NoAudio)?;
    let (connection, payload_type, codec) = audio_connection_and_codec(offer, audio)?;
    let telephone_event = audio.telephone_event();
    let ptime_ms = choose_ptime(audio.ptime.or(offer.ptime), audio.maxptime);

    let held = connection.is_unspecified();
    let offered = audio.direction.or(offer.direction).unwrap_or_default();
    let direction = if held && offered.sends() {
        Direction::RecvOnly
    } else if held {
        Direction::Inactive
    } else {
        offered.reversed()
    };
    let remote = (!held).then(|| SocketAddr::new(connection, audio.port));
    let negotiated = Negotiated {
        codec,
        payload_type,
        telephone_event,
        ptime_ms,
        remote,
        direction,
    };

    let mut sdp = session_header(local);
    for (index, media) in offer.media.iter().enumerate() {
        if index == audio_index {
            let fmtp = telephone_event.and_then(|event| {
                audio
                    .fmtps
                    .iter()
                    .find(|(payload_type, _)| *payload_type == event)
                    .map(|(_, parameters)| parameters.as_str())
            });
            write_audio(&mut sdp, local.port, &negotiated, fmtp);
        } else {
            write_rejected(&mut sdp, media);
        }
    }
    Ok(Answer { negotiated, sdp })
}

/// Returns the audio stream's connection address (its own, else the
/// session's) and its first PCMU or PCMA payload type with the codec.
fn audio_connection_and_codec(
    description: &SessionDescription,
    audio: &Media,
) -> Result<(IpAddr, u8, Codec), SdpError> {
    let connection = audio
        .connection
        .or(description.connection)
        .ok_or(SdpError::NoConnection)?;
    let (payload_type, codec) = audio
        .payload_types()
        .find_map(|payload_type| Some((payload_type, audio.codec(payload_type)?)))
        .ok_or_else(|| SdpError::NoCommonCodec {
            offered: describe_formats(audio),
        })?;
    Ok((connection, payload_type, codec))
}

/// Builds an offer for an INVITE that came without one: PCMU, PCMA and
/// telephone-event on payload type 101, 20 ms packets, both directions.
pub fn offer(local: &LocalMedia) -> String {
    let mut sdp = session_header(local);
    let _ = write!(
        sdp,
        "m=audio {port} RTP/AVP 0 8 {event}\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:{event} telephone-event/8000\r\n\
         a=fmtp:{event} 0-16\r\n\
         a=ptime:{DEFAULT_PTIME_MS}\r\n\
         a=sendrecv\r\n",
        port = local.port,
        event = OFFER_TELEPHONE_EVENT,
    );
    sdp
}

/// Takes the peer's answer to an [`offer`]: the answer's first G.711 codec
/// and its telephone-event payload type.
pub fn take_answer(answer: &SessionDescription) -> Result<Negotiated, SdpError> {
    let (_, audio) = answer.active_audio().ok_or(SdpError::NoAudio)?;
    let (connection, payload_type, codec) = audio_connection_and_codec(answer, audio)?;
    let held = connection.is_unspecified();
    // The answer's direction is the peer's; flowd takes the reverse.
    let peer = audio.direction.or(answer.direction).unwrap_or_default();
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event: audio.telephone_event(),
        ptime_ms: choose_ptime(audio.ptime.or(answer.ptime), audio.maxptime),
        remote: (!held).then(|| SocketAddr::new(connection, audio.port)),
        direction: peer.reversed(),
    })
}

fn choose_ptime(ptime: Option<u32>, maxptime: Option<u32>) -> u32 {
    let requested = ptime.unwrap_or(DEFAULT_PTIME_MS);
    let capped = maxptime.map_or(requested, |max| requested.min(max));
    // Whole multiples of 10 ms keep every frame a whole number of samples
    // and match what G.711 peers send.
    let rounded = (capped / MIN_PTIME_MS) * MIN_PTIME_MS;
    rounded.clamp(MIN_PTIME_MS, MAX_PTIME_MS)
}

fn session_header(local: &LocalMedia) -> String {
    let address = address_fields(local.address);
    format!(
        "v=0\r\no=flowd {} {} IN {address}\r\ns=flowd\r\nc=IN {address}\r\nt=0 0\r\n",
        local.session_id, local.session_version,
    )
}

fn address_fields(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => format!("IP4 {v4}"),
        IpAddr::V6(v6) => format!("IP6 {v6}"),
    }
}

fn write_audio(sdp: &mut String, port: u16, negotiated: &Negotiated, fmtp: Option<&str>) {
    let payload_type = negotiated.payload_type;
    let _ = write!(sdp, "m=audio {port} RTP/AVP {payload_type}");
    if let Some(event) = negotiated.telephone_event {
        let _ = write!(sdp, " {event}");
    }
    let _ = write!(
        sdp,
        "\r\na=rtpmap:{payload_type} {}/{CLOCK_RATE}\r\n",
        negotiated.codec.encoding_name()
    );
    if let Some(event) = negotiated.telephone_event {
        let events = fmtp.filter(|text| !text.is_empty()).unwrap_or("0-16");
        let _ = write!(
            sdp,
            "a=rtpmap:{event} telephone-event/{CLOCK_RATE}\r\na=fmtp:{event} {events}\r\n"
        );
    }
    let _ = write!(
        sdp,
        "a=ptime:{}\r\na={}\r\n",
        negotiated.ptime_ms,
        negotiated.direction.as_str()
    );
}

fn write_rejected(sdp: &mut String, media: &Media) {
    // RFC 3264 section 6: a rejected stream keeps its line with port 0 and
    // at least one format.
    let format = media.formats.first().map_or("0", String::as_str);
    let _ = write!(sdp, "m={} 0 {} {format}\r\n", media.kind, media.protocol);
}

fn describe_formats(media: &Media) -> String {
    let described: Vec<String> = media
        .formats
        .iter()
        .map(|format| {
            let name = format
                .parse::<u8>()
                .ok()
                .and_then(|payload_type| media.rtpmap(payload_type))
                .map(|map| format!("{format} {}/{}", map.encoding, map.clock_rate));
            name.unwrap_or_else(|| format.clone())
        })
        .collect();
    described.join(", ")
}

#[cfg(test)]
mod tests;
