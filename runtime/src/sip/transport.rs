//! UDP and TCP transports (RFC 3261 section 18).
//!
//! Readers parse what arrives and pass it to the endpoint's core task;
//! [`Outlet`] sends bytes back. Responses over UDP go where section 18.2.2
//! says, with `rport` (RFC 3581) honoured; over TCP they go back on the
//! connection the request came in on.

use super::header::Via;
use super::message::Message;
use super::parse::{self, Framed, ParseError};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

/// Largest UDP datagram read (the IPv4 maximum).
pub const MAX_DATAGRAM: usize = 65_535;

/// Largest head or message accepted on a TCP connection before it is
/// closed, so a peer cannot make the buffer grow without bound.
pub const MAX_STREAM_MESSAGE: usize = 256 * 1024;

/// A transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP datagrams.
    Udp,
    /// A TCP stream.
    Tcp,
}

impl Transport {
    /// Returns the Via token, such as `UDP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// The origin of a message: transport, peer address, listener and
/// connection, which is also the way back to that peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    /// The transport it arrived on.
    pub transport: Transport,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// The local listener address.
    pub local: SocketAddr,
    /// The TCP connection, for TCP.
    pub connection: Option<u64>,
}

/// An item a reader passes to the core, in arrival order.
#[derive(Debug)]
pub enum Received {
    /// A parsed message or the reason it is invalid.
    Message(Result<Message, ParseError>, Source),
    /// A TCP connection ended; it comes after the connection's last
    /// message, so the response to that message is still sent.
    Closed(u64),
}

/// Sends bytes on the listeners and connections of one endpoint.
#[derive(Clone, Default)]
pub struct Outlet {
    udp: Arc<Mutex<Vec<Arc<UdpSocket>>>>,
    connections: Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Vec<u8>>>>>,
}

impl Outlet {
    /// Sends to a peer: on the TCP connection when it is open, else by UDP
    /// from the socket bound to `local`.
    pub async fn send(&self, to: &Source, bytes: Vec<u8>) -> std::io::Result<()> {
        match to.transport {
            Transport::Tcp => {
                let writer = to
                    .connection
                    .and_then(|id| self.lock_connections().get(&id).cloned());
                match writer {
                    Some(writer) => writer
                        .send(bytes)
                        .map_err(|_| std::io::Error::other("the TCP connection is closed")),
                    None => Err(std::io::Error::other(format!(
                        "no open TCP connection to {}",
                        to.remote
                    ))),
                }
            }
            Transport::Udp => {
                let socket = {
                    let sockets = self.udp.lock().unwrap_or_else(|e| e.into_inner());
                    sockets
                        .iter()
                        .find(|s| s.local_addr().ok() == Some(to.local))
                        .or(sockets.first())
                        .cloned()
                };
                let socket = socket.ok_or_else(|| std::io::Error::other("no UDP listener"))?;
                socket.send_to(&bytes, to.remote).await.map(|_| ())
            }
        }
    }

    /// Returns the number of open TCP connections.
    pub fn connection_count(&self) -> usize {
        self.lock_connections().len()
    }

    /// Forgets a closed connection, which ends its writer.
    pub fn close(&self, connection: u64) {
        self.lock_connections().remove(&connection);
    }

    fn lock_connections(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<u64, mpsc::UnboundedSender<Vec<u8>>>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Updates the top Via of a received request (RFC 3261 section 18.2.1 and
/// RFC 3581): `received` when the sent-by host is not the source address,
/// and the source port in `rport` when the peer asked for it or
/// `force_rport` is set. Returns false when there is no valid top Via.
pub fn stamp_via(message: &mut Message, source: &Source, force_rport: bool) -> bool {
    let Message::Request(request) = message else {
        return true;
    };
    let vias = request.headers.list("Via");
    let Some(Ok(mut top)) = vias.first().map(|v| Via::parse(v)) else {
        return false;
    };
    let ip = source.remote.ip().to_string();
    let wants_rport = top.param("rport").is_some() || force_rport;
    if top.host.parse::<IpAddr>().ok() != Some(source.remote.ip()) || wants_rport {
        top.set_param("received", &ip);
    }
    if wants_rport {
        top.set_param("rport", &source.remote.port().to_string());
    }
    let mut rest: Vec<String> = vias.into_iter().skip(1).collect();
    rest.insert(0, top.to_string());
    request.headers.remove("Via");
    let mut rebuilt = super::message::Headers::default();
    for value in rest {
        rebuilt.push("Via", value);
    }
    for row in request.headers.iter() {
        rebuilt.push(&row.name, row.value.clone());
    }
    request.headers = rebuilt;
    true
}

/// Returns where a response goes (RFC 3261 section 18.2.2): the open
/// connection for TCP, else `received` and `rport` of the top Via, else the
/// source address with the sent-by port (5060 by default).
pub fn response_target(top_via: Option<&Via>, source: &Source) -> Source {
    let mut target = *source;
    if source.transport == Transport::Tcp {
        return target;
    }
    let Some(via) = top_via else {
        return target;
    };
    let ip = via
        .param("received")
        .and_then(|r| r.parse::<IpAddr>().ok())
        .or_else(|| via.host.parse().ok())
        .unwrap_or(source.remote.ip());
    let port = match via.param("rport").and_then(|p| p.parse::<u16>().ok()) {
        Some(port) => port,
        None => via.port.unwrap_or(5060),
    };
    target.remote = SocketAddr::new(ip, port);
    target
}

/// Binds a UDP listener and returns its reader loop's socket.
pub async fn bind_udp(address: SocketAddr, outlet: &Outlet) -> std::io::Result<Arc<UdpSocket>> {
    let socket = Arc::new(UdpSocket::bind(address).await?);
    outlet
        .udp
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(socket.clone());
    Ok(socket)
}

/// Reads datagrams until the core stops listening.
pub async fn read_udp(socket: Arc<UdpSocket>, core: mpsc::UnboundedSender<Received>) {
    let local = match socket.local_addr() {
        Ok(local) => local,
        Err(error) => {
            tracing::error!(%error, "cannot read the UDP listener's address");
            return;
        }
    };
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        let (length, remote) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                // ICMP port-unreachable from an earlier send shows up here
                // on some systems; the socket itself is still usable.
                tracing::debug!(%error, "UDP receive failed");
                continue;
            }
        };
        let bytes = buffer.get(..length).unwrap_or_default();
        if parse::trim_leading_crlf(bytes).is_empty() {
            continue;
        }
        let source = Source {
            transport: Transport::Udp,
            remote,
            local,
            connection: None,
        };
        if core
            .send(Received::Message(parse::parse_datagram(bytes), source))
            .is_err()
        {
            return;
        }
    }
}

/// Accepts TCP connections until the core stops listening.
pub async fn accept_tcp(
    listener: TcpListener,
    outlet: Outlet,
    core: mpsc::UnboundedSender<Received>,
) {
    let mut next_id = 1u64;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors is the usual cause; waiting a
                // little lets connections close instead of spinning.
                tracing::warn!(%error, "TCP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let id = next_id;
        next_id += 1;
        let local = stream.local_addr().unwrap_or(remote);
        let source = Source {
            transport: Transport::Tcp,
            remote,
            local,
            connection: Some(id),
        };
        let (reader, writer) = stream.into_split();
        let (sender, receiver) = mpsc::unbounded_channel();
        outlet.lock_connections().insert(id, sender);
        tokio::spawn(write_tcp(writer, receiver));
        tokio::spawn(read_tcp(reader, source, core.clone()));
        if core.is_closed() {
            return;
        }
    }
}

async fn write_tcp(
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    mut receiver: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    while let Some(bytes) = receiver.recv().await {
        if writer.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

/// Frames the stream; at end of stream a message with a complete head but
/// a short body is still parsed, so it gets its 400.
async fn read_tcp(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    source: Source,
    core: mpsc::UnboundedSender<Received>,
) {
    let closed = core.clone();
    let mut buffer: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        while let Some(consumed) = take_frame(&mut buffer, &source, &core) {
            if consumed == 0 {
                let _ = closed.send(Received::Closed(source.connection.unwrap_or_default()));
                return;
            }
        }
        let read = reader.read(&mut chunk).await.unwrap_or(0);
        if read == 0 || buffer.len() > MAX_STREAM_MESSAGE {
            if let Some((head, body)) = parse::split_head(&buffer) {
                let rest = buffer.get(body..).unwrap_or_default();
                let _ = core.send(Received::Message(
                    parse::parse_parts(head, rest, true),
                    source,
                ));
            }
            let _ = closed.send(Received::Closed(source.connection.unwrap_or_default()));
            return;
        }
        buffer.extend_from_slice(chunk.get(..read).unwrap_or_default());
    }
}

/// Takes one framed message off the buffer and passes it on. Returns the
/// bytes consumed, `Some(0)` when the stream cannot be framed any more,
/// or `None` when more bytes are needed.
fn take_frame(
    buffer: &mut Vec<u8>,
    source: &Source,
    core: &mpsc::UnboundedSender<Received>,
) -> Option<usize> {
    match parse::frame_stream(buffer) {
        Framed::Incomplete => None,
        Framed::Keepalive(length) => {
            buffer.drain(..length);
            Some(length)
        }
        Framed::Message(length) => {
            let message: Vec<u8> = buffer.drain(..length).collect();
            if let Some((head, body)) = parse::split_head(&message) {
                let rest = message.get(body..).unwrap_or_default();
                let _ = core.send(Received::Message(
                    parse::parse_parts(head, rest, true),
                    *source,
                ));
            }
            Some(length)
        }
        Framed::Invalid(reason) => {
            if let Some((head, body)) = parse::split_head(buffer) {
                let rest = buffer.get(body..).unwrap_or_default();
                let parsed = parse::parse_parts(head, rest, true);
                let answered = match parsed {
                    Err(ParseError::BadRequest {
                        status, request, ..
                    }) => Err(ParseError::BadRequest {
                        status,
                        reason,
                        request,
                    }),
                    other => other,
                };
                let _ = core.send(Received::Message(answered, *source));
            }
            Some(0)
        }
    }
}
