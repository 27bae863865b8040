//! The test suite's fake Plane as a standalone server, for the end-to-end tests under
//! systemd (tests/e2e/run.sh): `fake_plane [ADDR] [LIMIT_PER_MINUTE]`, default
//! 127.0.0.1:8700 and Plane's 60. The API key it accepts is printed on start.

#[path = "../tests/support_plane/mod.rs"]
mod fake_plane;

use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8700".into());
    let limit = args.next().and_then(|l| l.parse().ok()).unwrap_or(60);
    let _fake = fake_plane::FakePlane::bind(&addr, limit, Duration::from_secs(60));
    println!(
        "fake Plane on http://{addr} ({limit}/min), key {}",
        fake_plane::API_KEY
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
