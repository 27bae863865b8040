//! Logging: journald when stderr is the journal (JOURNAL_STREAM matches), else stderr in a
//! human or JSON format. Every event carries a stable `event` field (`EVENT=` in journald).

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// True when systemd connected our stderr to the journal (see systemd.exec(5), JOURNAL_STREAM).
pub fn stderr_is_journal() -> bool {
    let Ok(value) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.split_once(':') else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .expect("dup stderr"),
    )
    .metadata() else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("OPERATIONS_CENTER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if stderr_is_journal()
        && let Ok(journal) = tracing_journald::layer()
    {
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(
                journal
                    .with_field_prefix(None)
                    .with_syslog_identifier(syslog_identifier()),
            )
            .try_init();
        return;
    }
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_target(false),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(std::io::stderr)
                    .with_target(false),
            )
            .try_init(),
    };
}

fn syslog_identifier() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "oc".into())
}
