//! `zhenwei-kiosk`: the store kiosk agent (see the library documentation).
//!
//! ```text
//! zhenwei-kiosk --config kiosk.toml                     as configured
//! zhenwei-kiosk --config kiosk.toml --scanner stdin     type codes (one per line) to try it out
//! zhenwei-kiosk --config kiosk.toml --ui 127.0.0.1:0    the screen on a free port (logged)
//! ```
//!
//! Logs go to stderr (`ZHENWEI_LOG=debug` for more). The line `kiosk screen on http://ADDR/`
//! says where the screen is, once it and the scanner are ready.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tokio::sync::{mpsc, watch};
use zhenwei_kiosk::agent::{self, Services};
use zhenwei_kiosk::client::Client;
use zhenwei_kiosk::config::{Config, Overrides};
use zhenwei_kiosk::queue::Queue;
use zhenwei_kiosk::screen::Kiosk;
use zhenwei_kiosk::{scanner, ui};

/// The zhenwei store kiosk agent: scanner → server → full-screen verdict.
#[derive(Parser, Debug)]
#[command(name = "zhenwei-kiosk", version)]
struct Cli {
    /// The agent configuration (`zhenwei kiosk add` writes it as kiosk.toml).
    #[arg(long, value_name = "FILE", env = "ZHENWEI_KIOSK_CONFIG")]
    config: PathBuf,
    /// Where scans come from instead of the file's: `stdin`, `serial:PATH`, `evdev:PATH`, or a
    /// device path.
    #[arg(long, value_name = "SOURCE")]
    scanner: Option<String>,
    /// The screen's loopback address instead of the file's (port 0: a free port).
    #[arg(long, value_name = "ADDR")]
    ui: Option<String>,
    /// The server URL instead of the file's.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZHENWEI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let overrides = Overrides {
        scanner: cli.scanner,
        ui: cli.ui,
        server: cli.server,
    };
    let config = Config::load(&cli.config, &overrides)?;
    let client = Client::new(&config)?;
    let queue = Queue::open(&config.queue_dir)?;
    let services = Services::new(client, queue, config.language.clone());

    let listener = tokio::net::TcpListener::bind(config.ui)
        .await
        .with_context(|| format!("cannot listen on {}", config.ui))?;
    let ui_addr = listener.local_addr()?;

    let kiosk = Kiosk::new(config.idle);
    let (views_tx, views_rx) = watch::channel(kiosk.view());
    let (press_tx, press_rx) = mpsc::channel(8);
    let (scan_tx, scan_rx) = mpsc::channel(8);

    let info = ui::Info {
        store: config.store.clone(),
        kiosk: config.kiosk.clone(),
        hotline: config.hotline.clone(),
        sms: config.sms.clone(),
        language: config.language.clone(),
        idle_seconds: config.idle.as_secs_f64(),
    };
    tokio::spawn(ui::serve(listener, info, views_rx, press_tx));
    tokio::spawn(scanner::run(config.scanner.clone(), config.gap, scan_tx));
    tokio::spawn(services.clone().delivery_loop(config.queue_retry));
    tracing::info!(server = %config.server, queue = %config.queue_dir.display(), "kiosk screen on http://{ui_addr}/");

    let stop = shutdown_signal()?;
    tokio::select! {
        () = agent::run(&config, services, scan_rx, press_rx, views_tx) => {}
        () = stop => tracing::info!("stopping"),
    }
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
