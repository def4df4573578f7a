//! Scanner input: the thin tokio shell around [`crate::scan::ScanDecoder`] (and
//! [`crate::wedge::Wedge`] for keyboard-wedge scanners).
//!
//! Each source runs as one task that reads bytes, feeds them to the decoder with the time they
//! arrived, sleeps until the decoder's deadline when a scan without terminator is pending, and
//! sends every finished scan to the agent. A serial or evdev device that fails (unplugged, USB
//! reset) is reopened every few seconds; stdin ends the source at end of file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use crate::config::ScannerSource;
use crate::scan::{Decoded, ScanDecoder};
use crate::wedge::Wedge;

/// Pause before reopening a device that failed.
const REOPEN_PAUSE: Duration = Duration::from_secs(2);

/// Why a device could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("serial scanner {path}: {source}")]
    Serial {
        path: PathBuf,
        source: tokio_serial::Error,
    },
    #[error("keyboard-wedge scanner {path}: {source}")]
    Evdev {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Runs the scanner `source` until it ends (stdin) or the agent stops, sending scans to `out`.
pub async fn run(source: ScannerSource, gap: Duration, out: mpsc::Sender<Decoded>) {
    match source {
        ScannerSource::Stdin => {
            tracing::info!("scanner ready: stdin (one scan per line)");
            let mut decoder = ScanDecoder::new(gap);
            let end = pump(tokio::io::stdin(), &mut decoder, &out).await;
            tracing::info!(reason = %end, "scanner on stdin stopped");
        }
        ScannerSource::Serial { path, baud } => loop {
            match open_serial(&path, baud) {
                Ok(port) => {
                    tracing::info!(device = %path.display(), baud, "scanner ready: serial");
                    let mut decoder = ScanDecoder::new(gap);
                    let end = pump(port, &mut decoder, &out).await;
                    tracing::warn!(device = %path.display(), reason = %end, "serial scanner lost; reopening");
                }
                Err(e) => tracing::warn!(error = %e, "cannot open the scanner; retrying"),
            }
            if out.is_closed() {
                return;
            }
            tokio::time::sleep(REOPEN_PAUSE).await;
        },
        ScannerSource::Evdev { path } => loop {
            match open_evdev(&path) {
                Ok(dev) => {
                    tracing::info!(device = %path.display(), "scanner ready: keyboard wedge");
                    let end = pump_evdev(dev, gap, &out).await;
                    tracing::warn!(device = %path.display(), reason = %end, "keyboard-wedge scanner lost; reopening");
                }
                Err(e) => tracing::warn!(error = %e, "cannot open the scanner; retrying"),
            }
            if out.is_closed() {
                return;
            }
            tokio::time::sleep(REOPEN_PAUSE).await;
        },
    }
}

fn open_serial(path: &Path, baud: u32) -> Result<tokio_serial::SerialStream, OpenError> {
    use tokio_serial::SerialPortBuilderExt;
    tokio_serial::new(path.to_string_lossy(), baud)
        .open_native_async()
        .map_err(|source| OpenError::Serial {
            path: path.to_owned(),
            source,
        })
}

/// Sends what the decoder produced; false when the agent has gone.
async fn forward(out: &mpsc::Sender<Decoded>, decoded: Vec<Decoded>) -> bool {
    for d in decoded {
        if let Err(e) = &d {
            tracing::warn!(error = %e, "scan discarded");
        }
        if out.send(d).await.is_err() {
            return false;
        }
    }
    true
}

/// Reads `input` through `decoder` until it ends; returns why it ended.
async fn pump<R: AsyncRead + Unpin>(
    mut input: R,
    decoder: &mut ScanDecoder,
    out: &mpsc::Sender<Decoded>,
) -> String {
    let mut buf = [0u8; 512];
    loop {
        let deadline = decoder.deadline();
        tokio::select! {
            read = input.read(&mut buf) => {
                let n = match read {
                    Ok(0) => {
                        let last: Vec<Decoded> = decoder.expire(Instant::now() + Duration::from_secs(3600)).into_iter().collect();
                        forward(out, last).await;
                        return "end of input".into();
                    }
                    Ok(n) => n,
                    Err(e) => return e.to_string(),
                };
                let got = decoder.push(buf.get(..n).unwrap_or_default(), Instant::now());
                if !forward(out, got).await {
                    return "agent stopped".into();
                }
            }
            () = sleep_until(deadline) => {
                let got: Vec<Decoded> = decoder.expire(Instant::now()).into_iter().collect();
                if !forward(out, got).await {
                    return "agent stopped".into();
                }
            }
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// `EVIOCGRAB`: `_IOW('E', 0x90, int)`.
const EVIOCGRAB: libc::c_ulong = 0x4004_4590;
/// `EV_KEY` events carry key presses.
const EV_KEY: u16 = 1;

/// Opens an evdev device and grabs it, so the scanner's keystrokes reach only the agent (not
/// the kiosk browser or a console).
fn open_evdev(path: &Path) -> Result<tokio::fs::File, OpenError> {
    use std::os::fd::AsRawFd;
    let err = |source| OpenError::Evdev {
        path: path.to_owned(),
        source,
    };
    let f = std::fs::File::open(path).map_err(err)?;
    // SAFETY: a valid open descriptor and an int argument, as EVIOCGRAB expects.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), EVIOCGRAB as _, 1 as libc::c_int) };
    if rc != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(tokio::fs::File::from_std(f))
}

/// The size of `struct input_event` on this platform.
const EVENT_SIZE: usize = std::mem::size_of::<libc::input_event>();

/// (type, code, value) of one `struct input_event` (the time fields come first).
fn parse_event(raw: &[u8]) -> Option<(u16, u16, i32)> {
    let tail = raw.get(EVENT_SIZE.checked_sub(8)?..EVENT_SIZE)?;
    let ty = u16::from_ne_bytes([*tail.first()?, *tail.get(1)?]);
    let code = u16::from_ne_bytes([*tail.get(2)?, *tail.get(3)?]);
    let value = i32::from_ne_bytes([*tail.get(4)?, *tail.get(5)?, *tail.get(6)?, *tail.get(7)?]);
    Some((ty, code, value))
}

async fn pump_evdev(
    mut dev: tokio::fs::File,
    gap: Duration,
    out: &mpsc::Sender<Decoded>,
) -> String {
    let mut decoder = ScanDecoder::new(gap);
    let mut wedge = Wedge::default();
    let mut buf = vec![0u8; EVENT_SIZE * 64];
    let mut have = 0usize;
    loop {
        let deadline = decoder.deadline();
        tokio::select! {
            read = dev.read(buf.get_mut(have..).unwrap_or_default()) => {
                let n = match read {
                    Ok(0) => return "end of device".into(),
                    Ok(n) => n,
                    Err(e) => return e.to_string(),
                };
                have += n;
                let whole = have - have % EVENT_SIZE;
                let bytes: Vec<u8> = buf
                    .get(..whole)
                    .unwrap_or_default()
                    .chunks_exact(EVENT_SIZE)
                    .filter_map(parse_event)
                    .filter(|(ty, _, _)| *ty == EV_KEY)
                    .filter_map(|(_, code, value)| wedge.key(code, value))
                    .collect();
                buf.copy_within(whole..have, 0);
                have -= whole;
                let got = decoder.push(&bytes, Instant::now());
                if !forward(out, got).await {
                    return "agent stopped".into();
                }
            }
            () = sleep_until(deadline) => {
                let got: Vec<Decoded> = decoder.expire(Instant::now()).into_iter().collect();
                if !forward(out, got).await {
                    return "agent stopped".into();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_events_parse() {
        let mut raw = vec![0u8; EVENT_SIZE];
        let tail = EVENT_SIZE - 8;
        raw[tail..tail + 2].copy_from_slice(&EV_KEY.to_ne_bytes());
        raw[tail + 2..tail + 4].copy_from_slice(&30u16.to_ne_bytes());
        raw[tail + 4..].copy_from_slice(&1i32.to_ne_bytes());
        assert_eq!(parse_event(&raw), Some((EV_KEY, 30, 1)));
        assert_eq!(parse_event(&raw[..3]), None);
    }

    #[tokio::test]
    async fn a_byte_stream_becomes_scans_including_a_silent_scanner() {
        let (mut w, r) = tokio::io::duplex(64);
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(async move {
            let mut d = ScanDecoder::new(Duration::from_millis(30));
            pump(r, &mut d, &tx).await
        });
        use tokio::io::AsyncWriteExt;
        w.write_all(b"]d2010950600013435\x1d21AB\r\n")
            .await
            .unwrap();
        assert_eq!(
            rx.recv().await.unwrap().unwrap().text,
            "]d2010950600013435\u{1d}21AB"
        );
        // No terminator: the scan ends when the bytes stop.
        w.write_all(b"12345678901234567890").await.unwrap();
        assert_eq!(
            rx.recv().await.unwrap().unwrap().text,
            "12345678901234567890"
        );
        drop(w);
        assert_eq!(task.await.unwrap(), "end of input");
    }
}
