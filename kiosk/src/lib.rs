//! # zhenwei-kiosk — the store kiosk agent
//!
//! A kiosk is a small PC in a shop with a barcode scanner and a screen. This crate will hold the
//! agent that runs on it: it reads scans from a serial or USB keyboard-wedge scanner, turns the raw
//! bytes (AIM symbology identifiers, GS separators, CR/LF/TAB terminators) into one scan string,
//! asks the zhenwei server over HTTPS with the kiosk's own client certificate, and drives a
//! full-screen local web UI (green / amber / red verdicts, "report this product", zh/en, idle
//! reset). When the server cannot be reached it shows the hotline and SMS instructions and queues
//! reports durably on disk until the server is back.
//!
//! Nothing is implemented here yet; see the kiosk issue.
