#!/usr/bin/env bash
# One command that sets up everything and runs every test: formatting, lints, unit
# and integration tests (real GStreamer, real weights, real SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
# The setup may have fetched a newer Node.js into .tools/.
[ -d .tools/node/node_modules/node/bin ] && export PATH="$PWD/.tools/node/node_modules/node/bin:$PATH"
scripts/setup.sh --tests
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --release --locked --workspace --all-targets -- -D warnings
echo "==> cargo test"
cargo test --release --locked --workspace -- --test-threads=2
echo "==> web UI end-to-end tests (Chromium)"
ui/e2e/run.sh
echo "==> desktop app smoke test (Xvfb)"
src-tauri/smoke_test.sh
