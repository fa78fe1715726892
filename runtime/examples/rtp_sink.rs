//! An RTP receiver for the media benchmark (`scripts/bench-flowd`): it
//! receives every call's stream on one UDP port, separates the streams by
//! SSRC, and reports how far each packet arrived from its 20 ms schedule.
//!
//! A stream's schedule is `anchor + (timestamp - first timestamp) / 8000 s`,
//! where the anchor is the earliest arrival the stream's packets allow, so
//! the packet that came most on time has lateness 0 and every other packet's
//! lateness is how much later than that it came. Packets closer than
//! `--bunch-ms` to the previous packet of their stream are counted as
//! bunched. It stops after `--idle-seconds` without a packet (once one has
//! arrived) or after `--max-seconds`, prints a readable report, and a last
//! line of `key=value` pairs for scripts.
//!
//! Each packet has two arrival times, and the report gives lateness by both:
//!
//! - The kernel's receive timestamp (`SO_TIMESTAMPNS`), close to what a
//!   peer on another host would see. With `net.core.netdev_tstamp_prequeue`
//!   at its default 1, Linux takes it before it queues the datagram to the
//!   receive backlog, so it leaves out the receiver's scheduling delay.
//! - The time user space read it, after `recvmmsg` returned, which adds the
//!   receiver's own scheduling delay when it shares the CPUs with the sender.
//!
//! Datagrams are read in batches of up to 64 with `recvmmsg`, so the
//! receiver needs one system call per wake-up, not one per packet. Linux
//! only.
//!
//! `cargo run --release -p flowd --example rtp_sink -- --listen 127.0.0.1:40000`

use clap::Parser;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

/// G.711's RTP clock rate, in samples per second.
const CLOCK_RATE: u64 = 8000;

/// Command-line options.
#[derive(Parser)]
#[command(
    name = "rtp_sink",
    about = "Receives RTP streams and reports packet lateness and bunching"
)]
struct Options {
    /// The UDP address to receive on.
    #[arg(long, default_value = "127.0.0.1:40000")]
    listen: SocketAddr,
    /// Stop after this many seconds without a packet, once one has arrived.
    #[arg(long, default_value_t = 3)]
    idle_seconds: u64,
    /// Stop after this many seconds in any case.
    #[arg(long, default_value_t = 600)]
    max_seconds: u64,
    /// A packet more than this many milliseconds behind its schedule is late.
    #[arg(long, default_value_t = 20)]
    late_ms: u64,
    /// A packet less than this many milliseconds after the previous packet
    /// of its stream is bunched.
    #[arg(long, default_value_t = 10)]
    bunch_ms: u64,
}

/// One received packet: its arrival times in microseconds since the sink
/// started, by the kernel's receive timestamp and by the user-space read,
/// and the RTP header fields the report needs.
#[derive(Clone, Copy)]
struct Arrival {
    kernel_micros: i64,
    user_micros: i64,
    sequence: u16,
    timestamp: u32,
}

/// Selects which of a packet's two arrival times a report uses.
#[derive(Clone, Copy)]
enum Clock {
    Kernel,
    User,
}

impl Arrival {
    fn micros(&self, clock: Clock) -> i64 {
        match clock {
            Clock::Kernel => self.kernel_micros,
            Clock::User => self.user_micros,
        }
    }
}

/// Everything received: the arrivals per SSRC and the counters of
/// datagrams that could not be used as they are.
#[derive(Default)]
struct Received {
    streams: HashMap<u32, Vec<Arrival>>,
    /// Datagrams that were not RTP.
    invalid: u64,
    /// Datagrams without a kernel timestamp; their user-space time is used
    /// for both columns.
    unstamped: u64,
}

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    let options = Options::parse();
    let mut receiver = match batch::BatchReceiver::bind(options.listen) {
        Ok(receiver) => receiver,
        Err(error) => {
            eprintln!(
                "rtp_sink: error: cannot listen on {} with kernel receive timestamps: {error}; pick a free port with --listen",
                options.listen
            );
            return ExitCode::FAILURE;
        }
    };
    let received = match receive(&mut receiver, &options) {
        Ok(received) => received,
        Err(error) => {
            eprintln!("rtp_sink: error: receiving failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    report(&received, &options);
    ExitCode::SUCCESS
}

#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    eprintln!(
        "rtp_sink: error: this receiver needs Linux (recvmmsg and SO_TIMESTAMPNS); run the benchmark on Linux"
    );
    ExitCode::FAILURE
}

/// Returns microseconds from `start` to `time`, negative if `time` is
/// earlier. Both clocks in the report are the real-time clock, because
/// that is the clock the kernel stamps datagrams with.
fn micros_since(start: SystemTime, time: SystemTime) -> i64 {
    match time.duration_since(start) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// Receives until the stream goes idle or `--max-seconds` pass.
#[cfg(target_os = "linux")]
fn receive(receiver: &mut batch::BatchReceiver, options: &Options) -> std::io::Result<Received> {
    let start = Instant::now();
    let start_time = SystemTime::now();
    let idle = Duration::from_secs(options.idle_seconds);
    let max = Duration::from_secs(options.max_seconds);
    let mut received = Received::default();
    let mut last_packet: Option<Instant> = None;
    loop {
        let count = receiver.receive_batch()?;
        if count > 0 {
            let user_micros = micros_since(start_time, SystemTime::now());
            last_packet = Some(Instant::now());
            for (datagram, kernel_time) in receiver.datagrams() {
                let Some(header) = parse_header(datagram) else {
                    received.invalid += 1;
                    continue;
                };
                let kernel_micros = match kernel_time {
                    Some(time) => micros_since(start_time, time),
                    None => {
                        received.unstamped += 1;
                        user_micros
                    }
                };
                received
                    .streams
                    .entry(header.ssrc)
                    .or_default()
                    .push(Arrival {
                        kernel_micros,
                        user_micros,
                        sequence: header.sequence,
                        timestamp: header.timestamp,
                    });
            }
        }
        let now = Instant::now();
        let idle_done = last_packet.is_some_and(|last| now.duration_since(last) >= idle);
        if idle_done || now.duration_since(start) >= max {
            return Ok(received);
        }
    }
}

/// Batched receiving with kernel receive timestamps, through `recvmmsg` and
/// `SO_TIMESTAMPNS`, called through libc.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod batch {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;
    use std::time::{Duration, SystemTime};

    /// Datagrams read by one `recvmmsg` call at most.
    const BATCH: usize = 64;
    /// Bytes kept of each datagram; RTP of 20 ms of G.711 is 172 bytes, and
    /// only the 12-byte header is read.
    const DATAGRAM: usize = 2048;
    /// The control buffer of one message, in 8-byte words, so that it has
    /// the alignment of `cmsghdr`. One `SCM_TIMESTAMPNS` message takes
    /// `CMSG_SPACE(16)`, 32 bytes on 64-bit Linux, so 64 bytes leave room.
    const CONTROL_WORDS: usize = 8;
    /// The socket receive buffer requested, in bytes. Linux caps it at
    /// `net.core.rmem_max`.
    const RECEIVE_BUFFER: usize = 4 << 20;
    /// How long one `recvmmsg` waits for the first datagram, so that the
    /// caller can check its idle and total limits.
    const WAIT: Duration = Duration::from_millis(100);

    /// A UDP socket with `SO_TIMESTAMPNS` on, and the buffers of one batch.
    pub struct BatchReceiver {
        socket: UdpSocket,
        buffers: Vec<[u8; DATAGRAM]>,
        controls: Vec<[u64; CONTROL_WORDS]>,
        iovecs: Vec<libc::iovec>,
        headers: Vec<libc::mmsghdr>,
        /// The length and kernel timestamp of each datagram of the last
        /// batch.
        results: Vec<(usize, Option<SystemTime>)>,
    }

    impl BatchReceiver {
        /// Binds `address` and turns on kernel receive timestamps.
        pub fn bind(address: SocketAddr) -> std::io::Result<BatchReceiver> {
            let socket = Socket::new(
                Domain::for_address(address),
                Type::DGRAM,
                Some(Protocol::UDP),
            )?;
            socket.set_recv_buffer_size(RECEIVE_BUFFER)?;
            socket.bind(&address.into())?;
            let socket: UdpSocket = socket.into();
            socket.set_read_timeout(Some(WAIT))?;
            enable_timestamps(&socket)?;
            let empty_iovec = libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            };
            // SAFETY: mmsghdr is a C struct of integers and raw pointers,
            // for which all-zero bytes are a valid value (null pointers and
            // zero lengths). receive_batch sets every pointer before use.
            let empty_header: libc::mmsghdr = unsafe { std::mem::zeroed() };
            Ok(BatchReceiver {
                socket,
                buffers: vec![[0; DATAGRAM]; BATCH],
                controls: vec![[0; CONTROL_WORDS]; BATCH],
                iovecs: vec![empty_iovec; BATCH],
                headers: vec![empty_header; BATCH],
                results: Vec::with_capacity(BATCH),
            })
        }

        /// Waits up to 100 ms for a datagram, then reads it and every
        /// datagram already queued, up to 64, with their kernel
        /// timestamps. Returns how many it read: 0 when the wait timed out.
        pub fn receive_batch(&mut self) -> std::io::Result<usize> {
            self.results.clear();
            // The pointers are set again before every call, from the
            // buffers' current addresses, so that no header points into
            // memory that has moved.
            let slots = self
                .buffers
                .iter_mut()
                .zip(self.controls.iter_mut())
                .zip(self.iovecs.iter_mut())
                .zip(self.headers.iter_mut());
            for (((buffer, control), iovec), header) in slots {
                iovec.iov_base = buffer.as_mut_ptr().cast();
                iovec.iov_len = buffer.len();
                header.msg_hdr.msg_name = std::ptr::null_mut();
                header.msg_hdr.msg_namelen = 0;
                header.msg_hdr.msg_iov = iovec;
                header.msg_hdr.msg_iovlen = 1;
                header.msg_hdr.msg_control = control.as_mut_ptr().cast();
                header.msg_hdr.msg_controllen = size_of_val(control);
                header.msg_hdr.msg_flags = 0;
                header.msg_len = 0;
            }

            // SAFETY: `headers` contains BATCH initialised mmsghdr values whose
            // iovec and control pointers point into `iovecs`, `buffers` and
            // `controls`, which live in `self` and are not touched until
            // the call returns; each length is the size of its buffer.
            // A null timeout lets SO_RCVTIMEO bound the wait.
            let count = unsafe {
                libc::recvmmsg(
                    self.socket.as_raw_fd(),
                    self.headers.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };

            if count < 0 {
                let error = std::io::Error::last_os_error();
                return match error.kind() {
                    std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted => Ok(0),
                    _ => Err(error),
                };
            }

            let count = usize::try_from(count).unwrap_or(0);
            for header in self.headers.iter().take(count) {
                let length = (header.msg_len as usize).min(DATAGRAM);
                self.results
                    .push((length, kernel_timestamp(&header.msg_hdr)));
            }
            Ok(count)
        }

        /// Returns the datagrams of the last batch with their kernel
        /// timestamps, `None` where the kernel gave none.
        pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], Option<SystemTime>)> {
            self.results
                .iter()
                .zip(self.buffers.iter())
                .map(|(&(length, time), buffer)| (buffer.get(..length).unwrap_or(buffer), time))
        }
    }

    fn enable_timestamps(socket: &UdpSocket) -> std::io::Result<()> {
        let on: libc::c_int = 1;
        // SAFETY: the option value points to a c_int that outlives the call,
        // and the length passed is its size.
        let result = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                std::ptr::from_ref(&on).cast(),
                size_of_val(&on) as libc::socklen_t,
            )
        };
        if result == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// Returns the `SCM_TIMESTAMPNS` time of a received message, or `None`
    /// if it has none (or the control buffer was truncated).
    fn kernel_timestamp(message: &libc::msghdr) -> Option<SystemTime> {
        if message.msg_flags & libc::MSG_CTRUNC != 0 {
            return None;
        }
        // SAFETY: `message` was filled in by recvmmsg, so msg_control and
        // msg_controllen describe the control messages the kernel wrote,
        // and CMSG_FIRSTHDR returns null or a pointer inside that buffer.
        let mut control = unsafe { libc::CMSG_FIRSTHDR(message) };
        while !control.is_null() {
            // SAFETY: `control` is non-null and was returned by CMSG_FIRSTHDR
            // or CMSG_NXTHDR, which only return whole headers inside the
            // u64-aligned control buffer.
            let (level, kind) = unsafe { ((*control).cmsg_level, (*control).cmsg_type) };
            if level == libc::SOL_SOCKET && kind == libc::SCM_TIMESTAMPNS {
                // SAFETY: an SCM_TIMESTAMPNS message carries one timespec
                // (socket(7)); read_unaligned does not rely on the data's
                // alignment.
                let time = unsafe {
                    std::ptr::read_unaligned(libc::CMSG_DATA(control).cast::<libc::timespec>())
                };
                let seconds = u64::try_from(time.tv_sec).ok()?;
                let nanos = u32::try_from(time.tv_nsec).ok()?;
                return Some(SystemTime::UNIX_EPOCH + Duration::new(seconds, nanos));
            }
            // SAFETY: `message` and `control` are as above; CMSG_NXTHDR
            // returns null past the last message.
            control = unsafe { libc::CMSG_NXTHDR(message, control) };
        }
        None
    }
}

/// The RTP fixed-header fields (RFC 3550 section 5.1) the sink reads.
struct Header {
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
}

fn parse_header(datagram: &[u8]) -> Option<Header> {
    let fixed: &[u8; 12] = datagram.get(..12)?.try_into().ok()?;
    let [first, second, s0, s1, t0, t1, t2, t3, c0, c1, c2, c3] = *fixed;
    // Version 2, and payload types 72-76 are RTCP (RFC 5761 section 4).
    if first >> 6 != 2 || (72..=76).contains(&(second & 0x7f)) {
        return None;
    }
    Some(Header {
        sequence: u16::from_be_bytes([s0, s1]),
        timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
        ssrc: u32::from_be_bytes([c0, c1, c2, c3]),
    })
}

/// Counts that do not depend on the arrival times.
#[derive(Default)]
struct Sequence {
    packets: u64,
    lost: u64,
    skipped_slots: u64,
}

/// Timing figures over every stream by one clock.
#[derive(Default)]
struct Timing {
    late: u64,
    bunched: u64,
    lateness_micros: Vec<u64>,
    /// Late packets per second of the run, by arrival time, which shows
    /// whether they come during the ramp, the hold or the hang-ups.
    late_per_second: BTreeMap<i64, u64>,
}

/// Lateness percentiles in milliseconds.
struct Percentiles {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl Timing {
    /// Sorts the lateness values and returns their percentiles.
    fn percentiles(&mut self) -> Percentiles {
        self.lateness_micros.sort_unstable();
        let values = &self.lateness_micros;
        let percentile = |p: f64| -> f64 {
            if values.is_empty() {
                return 0.0;
            }
            let rank = ((values.len() - 1) as f64 * p).round() as usize;
            values.get(rank).copied().unwrap_or(0) as f64 / 1000.0
        };
        Percentiles {
            p50: percentile(0.5),
            p99: percentile(0.99),
            p999: percentile(0.999),
            max: percentile(1.0),
        }
    }
}

fn report(received: &Received, options: &Options) {
    let mut sequence = Sequence::default();
    let mut kernel = Timing::default();
    let mut user = Timing::default();
    for arrivals in received.streams.values() {
        count_sequence(arrivals, &mut sequence);
        add_timing(arrivals, Clock::Kernel, options, &mut kernel);
        add_timing(arrivals, Clock::User, options, &mut user);
    }
    let k = kernel.percentiles();
    let u = user.percentiles();

    println!("streams: {}", received.streams.len());
    println!(
        "packets: {} (not RTP: {}, without a kernel timestamp: {})",
        sequence.packets, received.invalid, received.unstamped
    );
    println!("lost (sequence gaps): {}", sequence.lost);
    println!(
        "skipped slots (timestamp jumps): {}",
        sequence.skipped_slots
    );
    println!("by kernel receive timestamp:");
    println!(
        "  lateness ms: p50 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2}",
        k.p50, k.p99, k.p999, k.max
    );
    println!("  late (> {} ms): {}", options.late_ms, kernel.late);
    println!(
        "  bunched (< {} ms apart): {}",
        options.bunch_ms, kernel.bunched
    );
    println!(
        "  late packets per second since the start (second:count): {}",
        format_per_second(&kernel.late_per_second)
    );
    println!("by user-space read:");
    println!(
        "  lateness ms: p50 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2}",
        u.p50, u.p99, u.p999, u.max
    );
    println!("  late (> {} ms): {}", options.late_ms, user.late);
    println!(
        "  bunched (< {} ms apart): {}",
        options.bunch_ms, user.bunched
    );
    println!(
        "summary streams={} packets={} lost={} skipped={} unstamped={} late={} bunched={} p50_ms={:.2} p99_ms={:.2} p999_ms={:.2} max_ms={:.2} user_late={} user_bunched={} user_p50_ms={:.2} user_p99_ms={:.2} user_p999_ms={:.2} user_max_ms={:.2}",
        received.streams.len(),
        sequence.packets,
        sequence.lost,
        sequence.skipped_slots,
        received.unstamped,
        kernel.late,
        kernel.bunched,
        k.p50,
        k.p99,
        k.p999,
        k.max,
        user.late,
        user.bunched,
        u.p50,
        u.p99,
        u.p999,
        u.max,
    );
}

/// Formats the non-zero counts as `second:count` pairs separated by spaces.
fn format_per_second(counts: &BTreeMap<i64, u64>) -> String {
    let pairs: Vec<String> = counts
        .iter()
        .map(|(second, count)| format!("{second}:{count}"))
        .collect();
    if pairs.is_empty() {
        "none".to_owned()
    } else {
        pairs.join(" ")
    }
}

/// Adds one stream's packet, loss and skipped-slot counts, in arrival
/// order. A packet that arrives out of order is also counted as lost at the
/// gap it leaves, but loopback does not reorder.
fn count_sequence(arrivals: &[Arrival], totals: &mut Sequence) {
    let packet_samples = packet_samples(arrivals);
    let mut previous: Option<&Arrival> = None;
    for arrival in arrivals {
        totals.packets += 1;
        if let Some(previous) = previous {
            let step = arrival.sequence.wrapping_sub(previous.sequence);
            if step > 1 && step < 0x8000 {
                totals.lost += u64::from(step - 1);
            }
            // Each packet is one slot, so a timestamp step of more than one
            // packet's samples is a slot the sender skipped.
            let samples = arrival.timestamp.wrapping_sub(previous.timestamp);
            if packet_samples > 0 && step == 1 && samples > packet_samples {
                totals.skipped_slots += u64::from(samples / packet_samples - 1);
            }
        }
        previous = Some(arrival);
    }
}

/// Adds one stream's lateness and bunching by `clock` to the totals.
fn add_timing(arrivals: &[Arrival], clock: Clock, options: &Options, totals: &mut Timing) {
    let Some(first) = arrivals.first() else {
        return;
    };
    // Offsets from the first packet, in microseconds of media time.
    let media_micros = |arrival: &Arrival| -> i64 {
        let samples = arrival.timestamp.wrapping_sub(first.timestamp);
        // A timestamp before the first packet's wraps to a huge value;
        // reading it as signed keeps it small and negative.
        i64::from(samples as i32) * 1_000_000 / CLOCK_RATE as i64
    };
    let anchor = arrivals
        .iter()
        .map(|arrival| arrival.micros(clock) - media_micros(arrival))
        .min()
        .unwrap_or(0);
    let late_micros = options.late_ms * 1000;
    let bunch_micros = options.bunch_ms as i64 * 1000;
    let mut previous: Option<&Arrival> = None;
    for arrival in arrivals {
        let lateness = (arrival.micros(clock) - media_micros(arrival) - anchor).max(0) as u64;
        totals.lateness_micros.push(lateness);
        if lateness > late_micros {
            totals.late += 1;
            let second = arrival.micros(clock).div_euclid(1_000_000);
            *totals.late_per_second.entry(second).or_default() += 1;
        }
        if let Some(previous) = previous
            && arrival.micros(clock) - previous.micros(clock) < bunch_micros
        {
            totals.bunched += 1;
        }
        previous = Some(arrival);
    }
}

/// Returns the timestamp step of the stream's first two consecutive
/// packets: its samples per packet, 160 for 20 ms of G.711.
fn packet_samples(arrivals: &[Arrival]) -> u32 {
    arrivals
        .windows(2)
        .find_map(|pair| match pair {
            [a, b] if b.sequence.wrapping_sub(a.sequence) == 1 => {
                Some(b.timestamp.wrapping_sub(a.timestamp))
            }
            _ => None,
        })
        .unwrap_or(0)
}
