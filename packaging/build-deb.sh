#!/usr/bin/env bash
# Builds target/debian/operations-center_<version>_<arch>.deb with cargo-deb.
# Usage: packaging/build-deb.sh [--deb-version V]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --version 3.8.0
cargo build --release --locked --bins
rm -rf target/man && mkdir -p target/man
target/release/oc man target/man
gzip -9n target/man/*
cargo deb --no-build --locked "$@"
