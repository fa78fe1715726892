//! The media bridge: flowd relays audio between the caller's
//! [`MediaSession`] and an agent's, so it can record and announce.
//!
//! Each session keeps its own pacing, SSRC, sequence numbers and codec.
//! Audio received on one side is decoded to linear samples and queued for
//! the other, which sends it in its next slots, encoded with its own codec
//! (so PCMU and PCMA legs are transcoded). A queue keeps at most 100 ms
//! and drops the oldest samples beyond that, so a faster sender adds no
//! delay. A slot with nothing queued sends silence, which keeps the
//! caller's stereo recording complete. Telephone-events are never relayed:
//! each session reports its own keys to its owner.

use super::session::{MediaSession, RelayHandle};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Samples a relay queue keeps: 100 ms at 8000 samples per second.
const MAX_QUEUED_SAMPLES: usize = 800;

/// Linear samples on their way from one session to the other.
#[derive(Debug, Default)]
pub(crate) struct SampleQueue {
    samples: Mutex<VecDeque<i16>>,
}

impl SampleQueue {
    /// Appends samples, dropping the oldest beyond 100 ms.
    pub(crate) fn push(&self, samples: &[i16]) {
        let mut queue = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        queue.extend(samples.iter().copied());
        let excess = queue.len().saturating_sub(MAX_QUEUED_SAMPLES);
        queue.drain(..excess);
    }

    /// Moves up to `count` samples into `out` (cleared first) and pads the
    /// rest with silence.
    pub(crate) fn take(&self, count: usize, out: &mut Vec<i16>) {
        out.clear();
        let mut queue = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let available = count.min(queue.len());
        out.extend(queue.drain(..available));
        out.resize(count, 0);
    }
}

/// One session's side of a bridge: where its received audio goes and
/// where the audio it sends comes from.
#[derive(Clone, Debug)]
pub(crate) struct Relay {
    /// Audio received from this session's peer, for the other session.
    pub(crate) outbound: Arc<SampleQueue>,
    /// Audio from the other session, sent to this session's peer.
    pub(crate) inbound: Arc<SampleQueue>,
}

/// Two bridged sessions. Dropping it unbridges them like
/// [`Bridge::unbridge`].
#[derive(Debug)]
pub struct Bridge {
    caller: RelayHandle,
    agent: RelayHandle,
}

/// Bridges the audio of `caller` and `agent`. While bridged, each session
/// sends the other's audio in place of its prompts or music, which resume
/// where they were after [`Bridge::unbridge`]. The caller's call recording,
/// if any, records the caller on the left and the agent on the right.
pub fn bridge(caller: &MediaSession, agent: &MediaSession) -> Bridge {
    let from_caller = Arc::new(SampleQueue::default());
    let from_agent = Arc::new(SampleQueue::default());
    let bridge = Bridge {
        caller: caller.relay_handle(),
        agent: agent.relay_handle(),
    };
    bridge.caller.set(Some(Relay {
        outbound: from_caller.clone(),
        inbound: from_agent.clone(),
    }));
    bridge.agent.set(Some(Relay {
        outbound: from_agent,
        inbound: from_caller,
    }));
    tracing::info!(caller_rtp = %caller.local_addr(), agent_rtp = %agent.local_addr(), "media bridged");
    bridge
}

impl Bridge {
    /// Ends the bridge: both sessions go back to their own prompts, music
    /// or silence.
    pub fn unbridge(self) {
        // Drop does the work.
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.caller.set(None);
        self.agent.set(None);
        tracing::info!("media unbridged");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_pads_with_silence() {
        let queue = SampleQueue::default();
        queue.push(&[1, 2, 3]);
        let mut out = Vec::new();
        queue.take(5, &mut out);
        assert_eq!(out, vec![1, 2, 3, 0, 0]);
        queue.take(2, &mut out);
        assert_eq!(out, vec![0, 0]);
    }

    #[test]
    fn queue_drops_oldest_beyond_limit() {
        let queue = SampleQueue::default();
        let first: Vec<i16> = (0..800).collect();
        queue.push(&first);
        queue.push(&[1000; 160]);
        let mut out = Vec::new();
        queue.take(800, &mut out);
        assert_eq!(out.first(), Some(&160));
        assert_eq!(out.last(), Some(&1000));
    }
}
