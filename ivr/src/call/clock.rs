//! The media clock: one thread paces the RTP of every call.
//!
//! A call sends one packet every 20 ms for as long as it lasts. Giving each call its own timer
//! means one task wake-up per call per 20 ms — 25 000 wake-ups a second at 500 calls, each
//! scheduled on its own, so under load every call's packet is late by however long its own
//! wake-up waited, and the tail of the pacing jitter grows with the number of calls. Here one
//! clock ticks for everyone instead: a dedicated OS thread (`zhenwei-media`, outside the tokio
//! runtime, so signalling, the database and DTMF detection never delay a packet) sleeps to
//! the next absolute 20 ms deadline, then asks every playing call for its due packet
//! ([`CallCore::tick`]) and sends it at once with a plain non-blocking `send_to`. The calls'
//! packets leave in a fixed order, so each call's own spacing stays 20 ms even if the whole
//! round takes a millisecond.
//!
//! What a tick produces besides packets (a prompt finished and the menu wants the verdict, a
//! hang-up) is handed to the call's own task through its channel: the clock never waits for
//! anything but the kernel's socket buffer.
//!
//! Invariants: the clock holds a call's [`CallCore`] lock only for one `tick` and its send; the
//! call's task never holds it across an `.await`. Deadlines are absolute (start + n × 20 ms): a
//! late round is followed by an early one, so a call's stream does not drift; after a stall of
//! more than [`MAX_BEHIND`] the clock starts afresh rather than bursting the backlog. With no
//! calls the thread blocks on its command channel (no idle wake-ups).

use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::{CallCore, CallOutput};
use crate::rtp::PACKET_INTERVAL;

/// How far behind its schedule the clock may fall before it stops catching up.
pub const MAX_BEHIND: Duration = Duration::from_millis(100);

/// A call as the clock sees it: its state, where its packets leave from, and where the rest of
/// what a tick produces goes.
pub struct Playing {
    core: Mutex<CallCore>,
    socket: UdpSocket,
    requests: UnboundedSender<CallOutput>,
    sent: AtomicU64,
}

impl Playing {
    /// `socket` is a non-blocking handle of the call's RTP socket (a `try_clone` of the one its
    /// task receives on); `requests` reaches the call's task.
    pub fn new(
        core: CallCore,
        socket: UdpSocket,
        requests: UnboundedSender<CallOutput>,
    ) -> Playing {
        Playing {
            core: Mutex::new(core),
            socket,
            requests,
            sent: AtomicU64::new(0),
        }
    }

    /// The call's state, for its own task (never held across an `.await`).
    pub fn core(&self) -> MutexGuard<'_, CallCore> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// RTP packets sent so far.
    pub fn packets_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// One 20 ms step: send the due packet, pass everything else to the call's task.
    fn tick(&self) {
        let outputs = self.core().tick();
        for o in outputs {
            match o {
                CallOutput::Send { packet, to } => {
                    self.sent.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = self.socket.send_to(&packet, to) {
                        tracing::debug!(error = %e, %to, "rtp send");
                    }
                }
                other => {
                    // The task is gone only when the call has ended.
                    let _ = self.requests.send(other);
                }
            }
        }
    }
}

enum Command {
    Add(u64, Arc<Playing>),
    Remove(u64),
}

/// The handle of a running media clock. Dropping it stops the thread.
pub struct MediaClock {
    commands: mpsc::Sender<Command>,
}

impl MediaClock {
    /// Starts the clock thread.
    pub fn start() -> std::io::Result<MediaClock> {
        let (commands, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("zhenwei-media".into())
            .spawn(move || run(&rx))?;
        Ok(MediaClock { commands })
    }

    /// The call starts receiving ticks (the first within 20 ms).
    pub fn add(&self, call: u64, playing: Arc<Playing>) {
        let _ = self.commands.send(Command::Add(call, playing));
    }

    /// The call gets no more ticks (from the next round on).
    pub fn remove(&self, call: u64) {
        let _ = self.commands.send(Command::Remove(call));
    }
}

fn apply(calls: &mut Vec<(u64, Arc<Playing>)>, c: Command) {
    match c {
        Command::Add(id, p) => calls.push((id, p)),
        Command::Remove(id) => {
            if let Some(i) = calls.iter().position(|(c, _)| *c == id) {
                calls.swap_remove(i);
            }
        }
    }
}

/// Asks the kernel to run the clock thread before ordinary threads (SCHED_FIFO, a low real-time
/// priority), as PBX media threads do: on a busy machine a normal thread's wake-up waits for the
/// compilers and databases sharing its cores, and that wait is the calls' jitter. Needs
/// CAP_SYS_NICE (root, or `LimitRTPRIO` in a systemd unit); without it the clock runs at normal
/// priority. The thread sleeps between rounds and a round is short, so it cannot starve the
/// machine (and the kernel's real-time throttling caps it anyway).
fn raise_priority() -> bool {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 10 };
        // SAFETY: a plain system call on the calling thread (pid 0) with a valid parameter.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        rc == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

fn run(rx: &mpsc::Receiver<Command>) {
    if raise_priority() {
        tracing::info!("media clock runs at real-time priority (SCHED_FIFO 10)");
    } else {
        tracing::info!(
            "media clock runs at normal priority (no CAP_SYS_NICE): jitter follows the machine's load"
        );
    }
    let mut calls: Vec<(u64, Arc<Playing>)> = Vec::new();
    let mut next = Instant::now();
    loop {
        if calls.is_empty() {
            // Idle: sleep until a call arrives.
            match rx.recv() {
                Ok(c) => apply(&mut calls, c),
                Err(_) => return,
            }
            next = Instant::now();
        }
        // Wait for the deadline, taking commands as they come.
        loop {
            match rx.try_recv() {
                Ok(c) => {
                    apply(&mut calls, c);
                    continue;
                }
                Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if now >= next {
                break;
            }
            match rx.recv_timeout(next - now) {
                Ok(c) => apply(&mut calls, c),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        for (_, p) in &calls {
            p.tick();
        }
        next += PACKET_INTERVAL;
        let now = Instant::now();
        if now > next + MAX_BEHIND {
            tracing::debug!(behind = ?(now - next), "media clock fell behind; starting afresh");
            next = now;
        }
    }
}
