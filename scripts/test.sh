#!/usr/bin/env bash
# One command that sets up everything and runs every test: formatting, lints, unit
# and integration tests (real GStreamer, real weights, real SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --release --locked --all-targets -- -D warnings
echo "==> cargo test"
cargo test --release --locked -- --test-threads=2
