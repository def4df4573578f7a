//! The tokio shell: sockets in, [`Uas`] in the middle, sockets out.
//!
//! One task owns the user agent and the call handler; it is the only place state changes. Socket
//! tasks feed it [`Input`]s over a channel — datagrams from the UDP socket, framed messages from
//! each TCP or TLS connection — and it performs the [`Output`]s the user agent queues: a datagram,
//! bytes for a connection's writer, closing a connection, a call event for the handler. It sleeps
//! until the user agent's next deadline, so retransmission timers need no task of their own.
//!
//! Streams are framed by [`StreamFramer`]; a connection that leaves a message incomplete for
//! [`PARTIAL_TIMEOUT`] or says nothing for [`IDLE_TIMEOUT`] is closed, and at most
//! [`MAX_CONNECTIONS`] are open at once.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use super::call::{CallCommand, CallHandler, CallId};
use super::message::{Parsed, StreamFramer};
use super::uas::{Output, Peer, Transport, Uas, UasConfig};

/// A connection with half a message waits this long for the rest.
pub const PARTIAL_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection with nothing to say is closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Open TCP/TLS connections at most.
pub const MAX_CONNECTIONS: usize = 1024;

/// What the socket tasks and the call side send the user agent task.
#[derive(Debug)]
pub enum Input {
    Datagram {
        peer: Peer,
        bytes: Vec<u8>,
    },
    Message {
        peer: Peer,
        parsed: Parsed,
    },
    Connected {
        conn: u64,
        writer: mpsc::UnboundedSender<Vec<u8>>,
    },
    Disconnected {
        conn: u64,
    },
    Command {
        call: CallId,
        command: CallCommand,
    },
}

/// Lets the call side hang up or transfer a call, now or later.
#[derive(Clone, Debug)]
pub struct CallControl {
    tx: mpsc::UnboundedSender<Input>,
}

impl CallControl {
    pub fn command(&self, call: CallId, command: CallCommand) {
        // The user agent task is gone only when the server stops; nothing to do then.
        let _ = self.tx.send(Input::Command { call, command });
    }

    pub fn hangup(&self, call: CallId) {
        self.command(call, CallCommand::Hangup);
    }

    pub fn transfer(&self, call: CallId, target: String) {
        self.command(call, CallCommand::Transfer { target });
    }

    /// Hangs `call` up after `delay` (a timer; nothing happens if the call ended before).
    pub fn hangup_after(&self, call: CallId, delay: Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            me.hangup(call);
        });
    }
}

/// Why the SIP listeners could not start.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot listen for SIP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The bound SIP sockets: UDP and TCP on the same address, TLS optionally on another.
pub struct Listeners {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
}

impl Listeners {
    /// Binds UDP and TCP on `addr` (with port 0, one free port for both) and TLS on `tls`.
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
    ) -> Result<Listeners, TransportError> {
        let bind_err = |addr, source| TransportError::Bind { addr, source };
        let mut attempts = 0;
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind(addr).await.map_err(|e| bind_err(addr, e))?;
            let udp_addr = udp.local_addr().map_err(|e| bind_err(addr, e))?;
            match TcpListener::bind(udp_addr).await {
                Ok(tcp) => break (udp, tcp),
                Err(e) if addr.port() != 0 || attempts >= 20 => return Err(bind_err(udp_addr, e)),
                Err(_) => attempts += 1,
            }
        };
        let tls = match tls {
            Some((a, config)) => Some((
                TcpListener::bind(a).await.map_err(|e| bind_err(a, e))?,
                tokio_rustls::TlsAcceptor::from(config),
            )),
            None => None,
        };
        Ok(Listeners {
            udp: Arc::new(udp),
            tcp,
            tls,
        })
    }

    /// The UDP (and TCP) address.
    pub fn addr(&self) -> SocketAddr {
        self.udp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve<H: CallHandler>(
        self,
        config: UasConfig,
        mut handler: H,
        shutdown: impl Future<Output = ()>,
    ) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Input>();
        let control = CallControl { tx: tx.clone() };
        let udp = self.udp.clone();
        let udp_local = self.addr();
        let mut tasks = tokio::task::JoinSet::new();
        {
            let (udp, tx) = (udp.clone(), tx.clone());
            tasks.spawn(async move {
                let mut buf = vec![0u8; 65_535];
                loop {
                    match udp.recv_from(&mut buf).await {
                        Ok((n, from)) => {
                            let peer = Peer {
                                transport: Transport::Udp,
                                addr: from,
                                local: udp_local,
                                conn: None,
                            };
                            let bytes = buf.get(..n).unwrap_or_default().to_vec();
                            if tx.send(Input::Datagram { peer, bytes }).is_err() {
                                break;
                            }
                        }
                        // ICMP errors surface here on some systems; keep receiving.
                        Err(e) => tracing::debug!(error = %e, "udp receive"),
                    }
                }
            });
        }
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let ids = Arc::new(std::sync::atomic::AtomicU64::new(1));
        tasks.spawn(accept_loop(
            self.tcp,
            None,
            tx.clone(),
            limit.clone(),
            ids.clone(),
        ));
        if let Some((l, acceptor)) = self.tls {
            tasks.spawn(accept_loop(l, Some(acceptor), tx.clone(), limit, ids));
        }
        drop(tx);

        let mut uas = Uas::new(config);
        let mut writers: HashMap<u64, mpsc::UnboundedSender<Vec<u8>>> = HashMap::new();
        tokio::pin!(shutdown);
        loop {
            let deadline = uas.next_deadline().map(Instant::from_std);
            let input = tokio::select! {
                _ = &mut shutdown => break,
                _ = sleep_until(deadline) => {
                    uas.on_timer(Instant::now().into_std());
                    None
                }
                input = rx.recv() => match input {
                    Some(i) => Some(i),
                    None => break,
                },
            };
            let now = Instant::now().into_std();
            match input {
                None => {}
                Some(Input::Datagram { peer, bytes }) => {
                    uas.on_bytes(now, peer, &bytes, &mut handler)
                }
                Some(Input::Message { peer, parsed }) => {
                    uas.on_parsed(now, peer, parsed, &mut handler)
                }
                Some(Input::Connected { conn, writer }) => {
                    writers.insert(conn, writer);
                }
                Some(Input::Disconnected { conn }) => {
                    writers.remove(&conn);
                }
                Some(Input::Command { call, command }) => uas.command(now, call, command),
            }
            while let Some(out) = uas.poll_output() {
                match out {
                    Output::Send { to, bytes } => match to.conn {
                        None => {
                            if let Err(e) = udp.send_to(&bytes, to.addr).await {
                                tracing::debug!(to = %to.addr, error = %e, "udp send");
                            }
                        }
                        Some(conn) => {
                            if let Some(w) = writers.get(&conn) {
                                let _ = w.send(bytes);
                            }
                        }
                    },
                    Output::Close { to } => {
                        if let Some(conn) = to.conn {
                            writers.remove(&conn);
                        }
                    }
                    Output::Event { call, event } => handler.event(&call, event, &control),
                }
            }
        }
        tasks.abort_all();
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tx: mpsc::UnboundedSender<Input>,
    limit: Arc<Semaphore>,
    ids: Arc<std::sync::atomic::AtomicU64>,
) {
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    loop {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let (stream, addr) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "sip accept");
                continue;
            }
        };
        let conn = ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tx = tx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match tls {
                None => {
                    let peer = Peer {
                        transport: Transport::Tcp,
                        addr,
                        local,
                        conn: Some(conn),
                    };
                    connection(stream, peer, tx).await;
                }
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(PARTIAL_TIMEOUT, acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        let peer = Peer {
                            transport: Transport::Tls,
                            addr,
                            local,
                            conn: Some(conn),
                        };
                        connection(stream, peer, tx).await;
                    }
                }
            }
        });
    }
}

/// Reads messages off one stream and writes what the user agent sends back on it.
async fn connection<S>(stream: S, peer: Peer, tx: mpsc::UnboundedSender<Input>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Some(conn) = peer.conn else { return };
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
    if tx.send(Input::Connected { conn, writer: wtx }).is_err() {
        return;
    }
    let write = async move {
        while let Some(bytes) = wrx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    };
    let tx2 = tx.clone();
    let read = async move {
        let mut framer = StreamFramer::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let wait = if framer.pending() > 0 {
                PARTIAL_TIMEOUT
            } else {
                IDLE_TIMEOUT
            };
            let n = match tokio::time::timeout(wait, reader.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => n,
            };
            framer.push(buf.get(..n).unwrap_or_default());
            while let Some(parsed) = framer.next_message() {
                let close = matches!(&parsed, Parsed::Invalid(i) if i.close);
                if tx2.send(Input::Message { peer, parsed }).is_err() || close {
                    // The user agent answers and then drops our writer, which closes us.
                    return;
                }
            }
        }
        let _ = tx2.send(Input::Disconnected { conn });
    };
    // The writer ends when the user agent drops its sender (Close, Disconnected, shutdown).
    let (_, _) = tokio::join!(read, write);
}
