//! `oc-ci-webhook`, `oc-ingest` (the HTTP receivers) and `oc ci-events`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use clap::{Args, Parser};

use super::{Common, finish};
use crate::config::ConfigError;
use crate::daemon::logging;
use crate::http::{self, Route, ServerOptions};
use crate::webhook::{self, Receiver, ingest::IngestReceiver};

pub const HOST_ENV: &str = "OPERATIONS_CENTER_WEBHOOK_HOST";
pub const PORT_ENV: &str = "OPERATIONS_CENTER_WEBHOOK_PORT";

#[derive(Debug, Parser)]
#[command(
    name = "oc-ci-webhook",
    version,
    about = "operations-center GitHub CI webhook receiver (socket-activated by oc-ci-webhook.socket)",
    long_about = "Receives GitHub check_run and check_suite deliveries on POST /webhook, \
        verifies X-Hub-Signature-256 with the secret from $CREDENTIALS_DIRECTORY/oc_webhook-secret \
        or OPERATIONS_CENTER_WEBHOOK_SECRET, records them in the state database and wakes the \
        review lane. Under systemd the listening socket comes from oc-ci-webhook.socket; by hand \
        it binds ci_webhook.host:port (OPERATIONS_CENTER_WEBHOOK_HOST/_PORT override them)."
)]
pub struct CiWebhookCli {
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Parser)]
#[command(
    name = "oc-ingest",
    version,
    about = "operations-center error ingest receiver (socket-activated by oc-ingest.socket)",
    long_about = "Accepts POST /ingest with JSON {\"text\": ..., \"repo_key\": ...} and creates \
        a board task (deduplicated). Under systemd the listening socket comes from \
        oc-ingest.socket; by hand it binds error_ingest.webhook_host:webhook_port."
)]
pub struct IngestCli {
    #[command(flatten)]
    common: Common,
}

/// `oc ci-events`: the CI events the webhook recorded, newest first.
#[derive(Debug, Args)]
pub struct CiEventsArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
    /// Show at most this many events
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

/// Main of `oc-ci-webhook`.
pub fn ci_webhook_main() -> ExitCode {
    // First of all: no process of our uid (an agent) may read our environment or memory.
    crate::daemon::sandbox::protect_process();
    let cli = CiWebhookCli::parse();
    logging::init(cli.common.log_format);
    finish(run_ci_webhook(&cli.common))
}

/// Main of `oc-ingest`.
pub fn ingest_main() -> ExitCode {
    // First of all: no process of our uid (an agent) may read our environment or memory.
    crate::daemon::sandbox::protect_process();
    let cli = IngestCli::parse();
    logging::init(cli.common.log_format);
    finish(run_ingest(&cli.common))
}

fn run_ci_webhook(common: &Common) -> anyhow::Result<()> {
    let config = common.load_config()?;
    let env = |name: &str| std::env::var(name).ok();
    let bind = webhook_bind(&config.ci_webhook.host, config.ci_webhook.port, env)?;
    let secret = webhook::load_secret(&config.ci_webhook, env)?;
    let state_dir = common.state_dir_for_writing()?;
    let receiver = std::sync::Arc::new(Receiver::open(&config.ci_webhook, &state_dir, secret)?);
    let options = ServerOptions {
        name: "oc-ci-webhook",
        bind,
        limits: config.ci_webhook.http.clone(),
        routes: vec![Route {
            method: hyper::Method::POST,
            path: "/webhook",
        }],
    };
    // Verification and parsing run on the async workers; only the commit is waited for.
    http::serve_nonblocking(options, move |req| receiver.handle_nonblocking(req))
}

fn run_ingest(common: &Common) -> anyhow::Result<()> {
    let config = common.load_config()?;
    let ingest = &config.error_ingest;
    let bind = resolve(
        &ingest.webhook_host,
        ingest.webhook_port,
        "error_ingest.webhook_host",
    )?;
    let options = ServerOptions {
        name: "oc-ingest",
        bind,
        limits: ingest.http.clone(),
        routes: vec![Route {
            method: hyper::Method::POST,
            path: "/ingest",
        }],
    };
    let state_dir = common.state_dir_for_writing()?;
    // Fail at start, not at the first request, when the database cannot be opened.
    drop(crate::store::open(&state_dir)?);
    let receiver = IngestReceiver::new(config, state_dir);
    http::serve(options, move |req| receiver.handle(req))
}

/// `ci_webhook.host`/`port`, overridden by OPERATIONS_CENTER_WEBHOOK_HOST/_PORT; a bad
/// value is a config error naming where it came from.
pub fn webhook_bind(
    host: &str,
    port: u16,
    env: impl Fn(&str) -> Option<String>,
) -> Result<SocketAddr, ConfigError> {
    let env_host = env(HOST_ENV).filter(|h| !h.trim().is_empty());
    let port = match env(PORT_ENV).filter(|p| !p.trim().is_empty()) {
        None => port,
        Some(p) => p.trim().parse::<u16>().map_err(|_| ConfigError {
            origin: PORT_ENV.into(),
            position: None,
            message: format!("expected a port number (0-65535), got {p:?}"),
        })?,
    };
    match env_host {
        Some(h) => resolve(h.trim(), port, HOST_ENV),
        None => resolve(host, port, "ci_webhook.host"),
    }
}

fn resolve(host: &str, port: u16, origin: &str) -> Result<SocketAddr, ConfigError> {
    let error = |message: String| ConfigError {
        origin: origin.into(),
        position: None,
        message,
    };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| error(format!("cannot resolve host {host:?}: {e}")))?
        .next()
        .ok_or_else(|| error(format!("host {host:?} has no address")))
}

pub(super) fn ci_events(common: &Common, args: CiEventsArgs) -> anyhow::Result<()> {
    let conn = crate::store::open(&common.state_dir_for_writing()?)?;
    let events = webhook::event::list(&conn, args.limit)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(());
    }
    if events.is_empty() {
        println!("no CI events recorded");
        return Ok(());
    }
    for e in events {
        let prs: Vec<String> = e.event.pr_numbers.iter().map(|n| format!("#{n}")).collect();
        println!(
            "{}  {:<11} {:<28} {:.12}  {:<20} {:<11} {:<10} {}  {}",
            e.received_at,
            e.event.event,
            e.event.repo,
            e.event.head_sha,
            e.event.check_name.as_deref().unwrap_or("-"),
            e.event.status.as_deref().unwrap_or("-"),
            e.event.conclusion.as_deref().unwrap_or("-"),
            if prs.is_empty() {
                "-".into()
            } else {
                prs.join(",")
            },
            e.delivery_id
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_config_and_bad_ports_name_the_variable() {
        let none = |_: &str| None;
        assert_eq!(
            webhook_bind("127.0.0.1", 8765, none).unwrap(),
            "127.0.0.1:8765".parse().unwrap()
        );
        let env = |name: &str| match name {
            HOST_ENV => Some("::1".to_string()),
            PORT_ENV => Some("9999".to_string()),
            _ => None,
        };
        assert_eq!(
            webhook_bind("127.0.0.1", 8765, env).unwrap(),
            "[::1]:9999".parse().unwrap()
        );
        let bad = |name: &str| (name == PORT_ENV).then(|| "80000".to_string());
        let err = webhook_bind("127.0.0.1", 8765, bad).unwrap_err();
        assert_eq!(err.origin, PORT_ENV);
    }

    #[test]
    fn clis_are_well_formed() {
        use clap::CommandFactory;
        CiWebhookCli::command().debug_assert();
        IngestCli::command().debug_assert();
    }
}
