//! The tests' fake GitHub as a program, for the end-to-end test under systemd (the review
//! lane needs a GitHub to talk to inside the sandbox). Not packaged.
//!
//! Usage: fake_github LISTEN_ADDR OWNER/NAME=/path/to/bare.git...
//! Accepts the token in tests/support_github (`TOKEN`); runs until SIGTERM/SIGINT.

#[path = "../tests/support_github/mod.rs"]
mod support_github;

fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args
        .next()
        .expect("usage: fake_github LISTEN OWNER/NAME=BARE...");
    let fake = support_github::FakeGitHub::start_on(&listen);
    for spec in args {
        let (full, bare) = spec.split_once('=').expect("OWNER/NAME=BARE");
        let (owner, name) = full.split_once('/').expect("OWNER/NAME");
        fake.add_repo(owner, name, std::path::Path::new(bare));
    }
    eprintln!("fake GitHub on {}", fake.base_url());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).expect("signal handler");
    }
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
