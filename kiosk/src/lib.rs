//! # zhenwei-kiosk — the store kiosk agent
//!
//! A kiosk is a small PC in a shop with a barcode scanner and a screen. This crate is the agent
//! that runs on it (binary `zhenwei-kiosk`): it reads scans from a serial or USB keyboard-wedge
//! scanner, asks the zhenwei server over HTTPS with the kiosk's own client certificate, and
//! drives a full-screen local web page (green / amber / red verdicts, "report this product",
//! zh/en, back to idle after a while). When the server cannot be reached it shows the hotline
//! and SMS short code, and keeps reports on disk until the server is back.
//!
//! The parts, from the scanner to the screen:
//!
//! * [`scan`] — raw scanner bytes → whole scans (AIM identifiers, GS, terminators, or a pause).
//!   Sans-I/O: time is an argument.
//! * [`wedge`] — Linux key events of a keyboard-wedge scanner → the bytes it typed. Sans-I/O.
//! * [`scanner`] — the tokio shell reading stdin, a serial port or an evdev device.
//! * [`screen`] — the kiosk state machine: events (scan, answer, offline, button, time) →
//!   actions (verify, report) and the view on screen. Sans-I/O.
//! * [`client`] — HTTPS to the server (rustls with the kiosk certificate, hyper), timeout and
//!   retry.
//! * [`queue`] — reports kept on disk, crash-safe, until the server has filed them.
//! * [`ui`] — the loopback web server: the embedded page, a Server-Sent Events feed, the button.
//! * [`agent`] — the shell tying them together.
//! * [`config`] — the TOML file `zhenwei kiosk add` writes, and the command-line overrides.
//!
//! The agent knows nothing of codes or verdict rules: the server's one verification core
//! decides; the agent passes scans through untouched and draws what comes back.

pub mod agent;
pub mod client;
pub mod config;
pub mod queue;
pub mod scan;
pub mod scanner;
pub mod screen;
pub mod ui;
pub mod wedge;
