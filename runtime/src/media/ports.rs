//! The pool of local RTP ports. Each call leases an even RTP port with the
//! odd RTCP port above it, and the lease returns both to the pool when it is
//! dropped, which also happens when the owning task panics or is aborted.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// An error binding a port pair.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The configured range contains no even port with an odd port above it.
    #[error(
        "RTP port range {start}-{end} contains no even/odd port pair; \
         give a range such as 20000-29999"
    )]
    EmptyRange {
        /// First port.
        start: u16,
        /// Last port.
        end: u16,
    },
    /// Every port pair is leased or taken by another program.
    #[error("no free RTP port pair in {start}-{end} ({in_use} leased); widen the RTP port range")]
    Exhausted {
        /// First port.
        start: u16,
        /// Last port.
        end: u16,
        /// Pairs leased by this process.
        in_use: usize,
    },
    /// The sockets could not be handed to tokio.
    #[error("cannot register RTP socket {address} with the runtime: {source}")]
    Register {
        /// The local address.
        address: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

#[derive(Debug)]
struct PoolState {
    free: Mutex<VecDeque<u16>>,
    in_use: AtomicUsize,
    start: u16,
    end: u16,
    capacity: usize,
}

/// A shared pool of RTP port pairs; cloning shares the pool.
#[derive(Clone, Debug)]
pub struct PortPool {
    state: Arc<PoolState>,
}

/// One leased port pair, returned to the pool on drop.
#[derive(Debug)]
pub struct PortLease {
    port: u16,
    state: Arc<PoolState>,
}

impl PortLease {
    /// Returns the RTP port; RTCP is the port above it.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.state.lock_free().push_back(self.port);
        self.state.in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

impl PoolState {
    fn lock_free(&self) -> std::sync::MutexGuard<'_, VecDeque<u16>> {
        // The queue stays consistent even if a holder panicked, because
        // every change is a single push or pop.
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sockets of one call's media.
#[derive(Debug)]
pub struct BoundPorts {
    /// The lease; dropping it frees the pair.
    pub lease: PortLease,
    /// The RTP socket.
    pub rtp: tokio::net::UdpSocket,
    /// The RTCP socket, read only to discard what peers send.
    pub rtcp: tokio::net::UdpSocket,
}

impl PortPool {
    /// Creates a pool of the even ports in `range` whose odd neighbour is in
    /// the range too.
    pub fn new(range: RangeInclusive<u16>) -> Result<PortPool, PortError> {
        let (start, end) = (*range.start(), *range.end());
        let first_even = start.saturating_add(start % 2);
        let free: VecDeque<u16> = (first_even..end).step_by(2).collect();
        if free.is_empty() {
            return Err(PortError::EmptyRange { start, end });
        }
        Ok(PortPool {
            state: Arc::new(PoolState {
                capacity: free.len(),
                free: Mutex::new(free),
                in_use: AtomicUsize::new(0),
                start,
                end,
            }),
        })
    }

    /// Returns the number of port pairs in the pool.
    pub fn capacity(&self) -> usize {
        self.state.capacity
    }

    /// Returns the number of pairs leased now; it returns to zero when every
    /// call has ended, which is how leaks are checked.
    pub fn in_use(&self) -> usize {
        self.state.in_use.load(Ordering::Relaxed)
    }

    /// Leases a pair and binds both ports on `ip`. A pair in use by another
    /// program goes back to the end of the queue and the next is
    /// tried, so each free pair is tried at most once. Must run inside a
    /// tokio runtime.
    pub fn bind(&self, ip: IpAddr) -> Result<BoundPorts, PortError> {
        let attempts = self.state.lock_free().len();
        for _ in 0..attempts {
            let Some(lease) = self.lease() else {
                break;
            };
            let rtp_address = SocketAddr::new(ip, lease.port);
            let rtcp_address = SocketAddr::new(ip, lease.port + 1);
            let (Ok(rtp), Ok(rtcp)) = (
                std::net::UdpSocket::bind(rtp_address),
                std::net::UdpSocket::bind(rtcp_address),
            ) else {
                continue;
            };
            let rtp = register(rtp, rtp_address)?;
            let rtcp = register(rtcp, rtcp_address)?;
            return Ok(BoundPorts { lease, rtp, rtcp });
        }
        Err(PortError::Exhausted {
            start: self.state.start,
            end: self.state.end,
            in_use: self.in_use(),
        })
    }

    fn lease(&self) -> Option<PortLease> {
        let port = self.state.lock_free().pop_front()?;
        self.state.in_use.fetch_add(1, Ordering::Relaxed);
        Some(PortLease {
            port,
            state: Arc::clone(&self.state),
        })
    }
}

fn register(
    socket: std::net::UdpSocket,
    address: SocketAddr,
) -> Result<tokio::net::UdpSocket, PortError> {
    let register_error = |source| PortError::Register { address, source };
    socket.set_nonblocking(true).map_err(register_error)?;
    tokio::net::UdpSocket::from_std(socket).map_err(register_error)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use std::net::Ipv4Addr;

    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn pool_uses_even_ports() {
        let pool = PortPool::new(30001..=30010).unwrap();
        assert_eq!(pool.capacity(), 4);
        // Every lease is held until the pool is empty.
        let leases: Vec<PortLease> = std::iter::from_fn(|| pool.lease()).collect();
        let ports: Vec<u16> = leases.iter().map(PortLease::port).collect();
        assert_eq!(ports, vec![30002, 30004, 30006, 30008]);
        assert_eq!(pool.in_use(), 4);
        drop(leases);
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn pool_rejects_empty_ranges() {
        let error = PortPool::new(30001..=30002).unwrap_err();
        assert_eq!(
            error.to_string(),
            "RTP port range 30001-30002 contains no even/odd port pair; give a range such as 20000-29999"
        );
        let (start, end) = (30010, 30000);
        assert!(PortPool::new(start..=end).is_err());
        assert!(PortPool::new(65534..=65535).is_ok());
    }

    #[tokio::test]
    async fn bind_skips_taken_ports_and_exhausts() {
        let pool = PortPool::new(30100..=30105).unwrap();
        // Another program uses the RTCP port of the first pair.
        let blocker = std::net::UdpSocket::bind((LOOPBACK, 30101));
        let first = pool.bind(LOOPBACK).unwrap();
        if blocker.is_ok() {
            assert_eq!(first.lease.port(), 30102);
        }
        let second = pool.bind(LOOPBACK);
        let third = pool.bind(LOOPBACK);
        assert!(third.is_err() || second.is_err());
        let error = pool.bind(LOOPBACK).unwrap_err();
        assert!(
            matches!(
                error,
                PortError::Exhausted {
                    start: 30100,
                    end: 30105,
                    ..
                }
            ),
            "{error}"
        );
        drop((first, second, third));
        assert_eq!(pool.in_use(), 0);
    }

    #[tokio::test]
    async fn lease_returns_on_panic_and_abort() {
        let pool = PortPool::new(30200..=30209).unwrap();
        let leased = pool.clone();
        let panicked = tokio::spawn(async move {
            let _ports = leased.bind(LOOPBACK).unwrap();
            panic!("call task failed");
        });
        assert!(panicked.await.unwrap_err().is_panic());
        assert_eq!(pool.in_use(), 0);

        let leased = pool.clone();
        let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
        let waiting = tokio::spawn(async move {
            let _ports = leased.bind(LOOPBACK).unwrap();
            let _ = bound_tx.send(());
            std::future::pending::<()>().await;
        });
        bound_rx.await.unwrap();
        assert_eq!(pool.in_use(), 1);
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        assert_eq!(pool.in_use(), 0);
    }
}
