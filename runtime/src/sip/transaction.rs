//! Transaction state (RFC 3261 section 17): keys that match requests to
//! server transactions, and the timers' values.

use super::header::Via;
use super::message::Request;
use super::transport::Source;
use std::time::Duration;

/// The branch prefix of RFC 3261 transaction ids.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Timer base values (RFC 3261 section 17.1.1.1 and table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// Round-trip estimate; 500 ms by default.
    pub t1: Duration,
    /// Maximum retransmit interval of non-INVITE requests and INVITE
    /// responses; 4 s by default.
    pub t2: Duration,
    /// Maximum time a message stays in the network; 5 s by default.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// Returns 64*T1, the lifetime of timers B, F, H, J and L.
    pub fn long(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
}

/// Identifies a server transaction (RFC 3261 section 17.2.3). ACK matches
/// the INVITE it acknowledges; CANCEL has its own transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key(pub(crate) String);

impl Key {
    /// Builds the key of a client transaction from its branch.
    pub(crate) fn client(branch: &str) -> Key {
        Key(branch.to_string())
    }

    /// Builds the key of a request, or `None` without a valid top Via.
    pub fn of(request: &Request) -> Option<Key> {
        let method = if request.method == "ACK" {
            "INVITE"
        } else {
            request.method.as_str()
        };
        Key::with_method(request, method)
    }

    /// Builds the key the request would have with another method, such as
    /// the INVITE a CANCEL refers to.
    pub fn with_method(request: &Request, method: &str) -> Option<Key> {
        let vias = request.headers.list("Via");
        let via = Via::parse(vias.first()?).ok()?;
        let port = via.port.unwrap_or(5060);
        let call_id = request.headers.get("Call-ID").unwrap_or_default();
        let number = request.cseq_number().unwrap_or_default();
        if let Some(branch) = via.param("branch").filter(|b| b.starts_with(MAGIC_COOKIE)) {
            // Call-ID and CSeq number are the same in every retransmission,
            // ACK and CANCEL of a request. Keying on them too means a peer
            // that reuses a branch for a new request (the RFC 4475 corpus
            // does) never hits an old transaction.
            return Some(Key(format!(
                "{branch}|{}:{port}|{method}|{call_id}|{number}",
                via.host
            )));
        }
        // RFC 2543 peers: match on the request's identifying fields
        // (section 17.2.3, second part).
        let from_tag = request
            .headers
            .get("From")
            .and_then(|f| super::header::param(f, "tag"))
            .unwrap_or_default();
        let uri = if method == "INVITE" || method == "CANCEL" {
            request.uri.as_str()
        } else {
            ""
        };
        Some(Key(format!(
            "2543|{uri}|{from_tag}|{call_id}|{number}|{}:{port}|{method}",
            via.host
        )))
    }
}

/// The states of a server transaction (RFC 3261 figures 7 and 8, with the
/// Accepted state of RFC 6026 for INVITEs answered 2xx).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for the handler's final response.
    Proceeding,
    /// A final response was sent; INVITE: waiting for ACK.
    Completed,
    /// An INVITE was answered 2xx and the 2xx is retransmitted until ACK.
    Accepted,
    /// The ACK arrived; absorbing ACK retransmissions until timer I.
    Confirmed,
}

/// One server transaction.
#[derive(Clone, Debug)]
pub struct ServerTransaction {
    /// The request that opened it.
    pub request: Request,
    /// The destination of responses.
    pub target: Source,
    /// Current state.
    pub state: State,
    /// The last response sent, serialized, for retransmissions.
    pub last_response: Option<Vec<u8>>,
    /// The status of the last response sent.
    pub last_status: u16,
    /// The To tag this server put on its responses.
    pub to_tag: String,
}

impl ServerTransaction {
    /// Returns whether the transaction is for an INVITE.
    pub fn is_invite(&self) -> bool {
        self.request.method == "INVITE"
    }
}

/// The server timers that fire into the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    /// Retransmit the final INVITE response (timer G; for a 2xx, the UAS
    /// core's retransmission of section 13.3.1.4). Carries the interval.
    Retransmit(Duration),
    /// Give up waiting for ACK (timer H, or timer L in Accepted).
    AckTimeout,
    /// Forget the transaction (timers I and J).
    Forget,
    /// Retransmit a client request (timer E). Carries the interval.
    ClientRetransmit(Duration),
    /// Give up on a client request (timer F).
    ClientTimeout,
    /// Retransmit an INVITE that has no response yet (timer A). Carries
    /// the interval.
    InviteRetransmit(Duration),
    /// Give up on an INVITE that has no response (timer B).
    InviteTimeout,
    /// Retransmit a CANCEL that has no final response. Carries the
    /// interval.
    CancelRetransmit(Duration),
    /// Give up on a cancelled INVITE that got no final response within
    /// 64*T1 of the CANCEL (RFC 3261 section 9.1).
    CancelTimeout,
    /// Forget a client INVITE transaction (timer D after a non-2xx, or the
    /// end of the Accepted state of RFC 6026 after a 2xx).
    InviteForget,
}

/// The states of a client INVITE transaction (RFC 3261 figure 5, with
/// the Accepted state of RFC 6026).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteState {
    /// Sent; no response yet.
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A non-2xx final response arrived and was ACKed; later copies are
    /// ACKed again.
    Completed,
    /// A 2xx arrived; later copies go to the transaction user, which ACKs
    /// them end to end.
    Accepted,
}
