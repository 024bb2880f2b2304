#!/usr/bin/env bash
# End-to-end tests of the web UI in a real browser (Debian's Chromium driven by
# playwright-core) against a real `reelmap serve` on a generated demo library.
#
#   ui/e2e/run.sh            (or: cd ui && npm run test:e2e)
#
# Env: REELMAP_BIN (engine binary; default <repo>/target/release/reelmap),
#      CHROMIUM (default /usr/bin/chromium), E2E_KEEP=1 keeps the temp dir.
# Screenshots go to <repo>/test-artifacts/e2e/.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
UI="$(dirname "$HERE")"
ROOT="$(dirname "$UI")"
BIN="${REELMAP_BIN:-$(dirname "$0")/../../target/release/reelmap}"
BIN="$(cd "$(dirname "$BIN")" 2>/dev/null && pwd)/$(basename "$BIN")"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
ART="$ROOT/test-artifacts/e2e"

die() { echo "e2e: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "engine binary not found at $BIN (build it with 'cargo build --release', or set REELMAP_BIN)"
[ -x "$CHROMIUM" ] || die "Chromium not found at $CHROMIUM (install it: apt-get install -y chromium)"
command -v node >/dev/null || die "node is not installed"

cd "$UI"
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/vite ]; then
  echo "e2e: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
fi

# Build the UI when dist/ is missing or older than any source.
if [ ! -f dist/index.html ] || [ -n "$(find src index.html vite.config.ts package.json tsconfig.json public -newer dist/index.html -print -quit 2>/dev/null)" ]; then
  echo "e2e: building the UI"
  npm run build --silent
fi

mkdir -p "$ART"
rm -f "$ART"/*.png
TMP="$(mktemp -d -t reelmap-e2e.XXXXXX)"
SERVER=""
cleanup() {
  status=$?
  if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$TMP/serve.err" ]; then
    echo "e2e: server log (last lines):" >&2
    tail -n 30 "$TMP/serve.err" >&2 || true
  fi
  if [ "${E2E_KEEP:-0}" = "1" ]; then echo "e2e: kept $TMP"; else rm -rf "$TMP"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "e2e: making the demo library"
"$BIN" demo-library "$TMP/library" >"$TMP/demo.log" 2>&1 || { cat "$TMP/demo.log" >&2; die "demo-library failed"; }

echo "e2e: starting the server"
"$BIN" --db "$TMP/db.sqlite3" --json serve --no-open --port 0 --ui "$UI/dist" >"$TMP/serve.out" 2>"$TMP/serve.err" &
SERVER=$!

URL=""
for _ in $(seq 1 300); do
  if [ -s "$TMP/serve.out" ]; then
    URL="$(head -n 1 "$TMP/serve.out" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{process.stdout.write(JSON.parse(s).url)}catch{}})')"
    [ -n "$URL" ] && break
  fi
  kill -0 "$SERVER" 2>/dev/null || { cat "$TMP/serve.err" >&2; die "the server exited"; }
  sleep 0.1
done
[ -n "$URL" ] || die "the server did not print its address"
echo "e2e: server at ${URL%%\?*}"

REELMAP_URL="$URL" E2E_TMP="$TMP" E2E_LIBRARY="$TMP/library" E2E_ARTIFACTS="$ART" \
  node --test --test-concurrency=1 --test-reporter=spec "$HERE/app.test.mjs"
