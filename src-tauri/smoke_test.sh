#!/usr/bin/env bash
# Smoke test of the Reelmap desktop app (src-tauri): builds it, runs it under Xvfb
# with a throw-away catalogue, and checks that
#   - the engine's server answers (/api/status with the launch token),
#   - the window "Reelmap" appears and its webview loads the UI from the server,
#   - a screenshot of the window is not blank,
#   - the page (a remote origin for Tauri) may call the native `pick_folders`
#     command: the folder dialog opens, choosing a folder in it returns the folder,
#     and cancelling it returns an empty list,
#   - SIGTERM closes the app cleanly (server stopped, exit status 0).
# Screenshots and the app's log go to <repo>/test-artifacts/desktop/.
#
# Installs nothing: Debian packages needed (as root: apt-get install -y ...):
#   build:  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev
#           libjavascriptcoregtk-4.1-dev librsvg2-dev build-essential pkg-config
#   run:    xvfb xauth x11-utils xdotool imagemagick curl python3
# plus what the engine itself needs (scripts/setup.sh).
#
# Options (environment):
#   SMOKE_PROFILE=release|debug   cargo profile (default release)
#   SMOKE_UI=auto|dist|placeholder
#       auto (default): ui/dist if built; else build it with npm when ui/ and npm are
#       there; else a placeholder page. dist: ui/dist must be there (or be built).
#       placeholder: always the placeholder page. $REELMAP_UI_DIR, if set, wins.
#   SMOKE_TIMEOUT=seconds         how long to wait for each step (default 60)
#   CARGO_TARGET_DIR              honoured as usual
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ART="$ROOT/test-artifacts/desktop"
PROFILE=${SMOKE_PROFILE:-release}
UI_MODE=${SMOKE_UI:-auto}
TIMEOUT=${SMOKE_TIMEOUT:-60}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'desktop smoke: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- prerequisites
missing=()
for c in cargo pkg-config Xvfb xwininfo xdotool import identify curl python3; do
  command -v "$c" >/dev/null || missing+=("$c")
done
for m in webkit2gtk-4.1 gtk+-3.0 libsoup-3.0 javascriptcoregtk-4.1; do
  pkg-config --exists "$m" 2>/dev/null || missing+=("pkg-config:$m")
done
if [ ${#missing[@]} -gt 0 ]; then
  die "missing prerequisites: ${missing[*]}
  apt-get install -y libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev librsvg2-dev build-essential pkg-config xvfb xauth x11-utils xdotool imagemagick curl python3"
fi
# /usr/local/bin/convert may be a stand-in: use ImageMagick's own tools by path
# when they are there.
IDENTIFY=$(command -v identify)
IMPORT=$(command -v import)
[ -x /usr/bin/identify ] && IDENTIFY=/usr/bin/identify
[ -x /usr/bin/import ] && IMPORT=/usr/bin/import

# ---------------------------------------------------------------------- build
case "$PROFILE" in
  release) PROFILE_FLAG=(--release); PROFILE_DIR=release ;;
  debug) PROFILE_FLAG=(); PROFILE_DIR=debug ;;
  *) die "SMOKE_PROFILE must be release or debug" ;;
esac
say "building the desktop app ($PROFILE)"
start=$SECONDS
cargo build "${PROFILE_FLAG[@]}" --locked --manifest-path "$HERE/Cargo.toml" --bin reelmap-desktop
echo "build took $((SECONDS - start))s"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps --manifest-path "$HERE/Cargo.toml" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
APP="$TARGET_DIR/$PROFILE_DIR/reelmap-desktop"
[ -x "$APP" ] || die "no binary at $APP"

# ------------------------------------------------------------------ test setup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/reelmap-desktop-smoke.XXXXXX")
APP_PID=""
XVFB_PID=""
cleanup() {
  if [ -n "$APP_PID" ] && kill -0 "$APP_PID" 2>/dev/null; then
    kill -KILL "$APP_PID" 2>/dev/null || true
  fi
  if [ -n "$XVFB_PID" ] && kill -0 "$XVFB_PID" 2>/dev/null; then
    kill "$XVFB_PID" 2>/dev/null || true
    wait "$XVFB_PID" 2>/dev/null || true
  fi
  [ -f "$WORK/app.log" ] && cp "$WORK/app.log" "$ART/app.log"
  rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$ART"
mkdir -p "$ART"

# The web UI.
PLACEHOLDER=0
if [ -n "${REELMAP_UI_DIR:-}" ]; then
  UI_DIR=$REELMAP_UI_DIR
elif [ "$UI_MODE" = placeholder ]; then
  PLACEHOLDER=1
else
  UI_DIR="$ROOT/ui/dist"
  if [ ! -f "$UI_DIR/index.html" ] && [ -f "$ROOT/ui/package.json" ] && command -v npm >/dev/null; then
    say "building the web UI (npm)"
    if [ -f "$ROOT/ui/package-lock.json" ] && [ ! -d "$ROOT/ui/node_modules" ]; then
      (cd "$ROOT/ui" && npm ci --no-audit --no-fund)
    fi
    (cd "$ROOT/ui" && npm run build)
  fi
  if [ ! -f "$UI_DIR/index.html" ]; then
    [ "$UI_MODE" = dist ] && die "no built UI in $UI_DIR"
    echo "no built UI in $UI_DIR: using a placeholder page"
    PLACEHOLDER=1
  fi
fi
if [ "$PLACEHOLDER" = 1 ]; then
  UI_DIR="$WORK/ui"
  mkdir -p "$UI_DIR"
  # Fetches /api/status with the cookie the token URL set, and shows the answer.
  cat >"$UI_DIR/index.html" <<'EOF'
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reelmap</title>
<style>
  html, body { margin: 0; height: 100%; background: #1e6fd9; color: #fff;
               font: 28px sans-serif; }
  main { padding: 48px; }
  #status { margin-top: 24px; font-size: 18px; white-space: pre-wrap; }
</style></head>
<body><main>
  <h1>Reelmap placeholder UI</h1>
  <div id="status">checking /api/status…</div>
</main>
<script>
  fetch('/api/status').then(function (r) { return r.text().then(function (t) {
    document.getElementById('status').textContent = 'GET /api/status: ' + r.status + '\n' + t;
  }); }, function (e) {
    document.getElementById('status').textContent = 'GET /api/status failed: ' + e;
  });
</script>
</body></html>
EOF
fi
echo "UI: $UI_DIR"

# A folder for the dialog test to choose.
PICK_DIR="$WORK/videos"
mkdir -p "$PICK_DIR"

# Xvfb on a free display.
exec 3>"$WORK/display"
Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
XVFB_PID=$!
exec 3>&-
for _ in $(seq 1 100); do
  [ -s "$WORK/display" ] && break
  kill -0 "$XVFB_PID" 2>/dev/null || { cat "$WORK/xvfb.log" >&2; die "Xvfb did not start"; }
  sleep 0.1
done
[ -s "$WORK/display" ] || die "Xvfb did not report its display"
export DISPLAY=":$(head -n1 "$WORK/display")"
echo "Xvfb on $DISPLAY"

# ------------------------------------------------------------------ the checks
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*" >&2; }
# wait_log PATTERN: waits until the app's log has a line matching PATTERN.
wait_log() {
  local deadline=$((SECONDS + TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    grep -qE "$1" "$WORK/app.log" 2>/dev/null && return 0
    kill -0 "$APP_PID" 2>/dev/null || return 1
    sleep 0.25
  done
  return 1
}
# colours PNG: number of distinct colours of an image.
colours() { "$IDENTIFY" -format '%k' "$1" 2>/dev/null || echo 0; }

say "starting the app"
env REELMAP_DB="$WORK/catalogue.sqlite3" REELMAP_UI_DIR="$UI_DIR" \
  REELMAP_DESKTOP_PRINT_URL=1 REELMAP_DESKTOP_SMOKE_TRIGGER="$WORK/pick-now" \
  HOME="$WORK/home" XDG_DATA_HOME="$WORK/home/data" XDG_CACHE_HOME="$WORK/home/cache" \
  XDG_CONFIG_HOME="$WORK/home/config" NO_AT_BRIDGE=1 GSETTINGS_BACKEND=memory \
  WEBKIT_DISABLE_DMABUF_RENDERER=1 LIBGL_ALWAYS_SOFTWARE=1 \
  "$APP" >"$WORK/app.log" 2>&1 &
APP_PID=$!

if ! wait_log '^reelmap-desktop: url '; then
  cat "$WORK/app.log" >&2
  die "the app did not start its server"
fi
URL=$(sed -n 's/^reelmap-desktop: url //p' "$WORK/app.log" | head -n1)
BASE=${URL%%/\?token=*}
TOKEN=${URL##*token=}
echo "server: $BASE"

# 1. The engine's server answers with the token, and refuses without it.
if body=$(curl -fsS --max-time 10 -H "X-Reelmap-Token: $TOKEN" "$BASE/api/status"); then
  pass "GET /api/status with the token: ${body:0:120}"
else
  fail "GET /api/status with the token"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/api/status" || true)
if [ "$code" = 401 ] || [ "$code" = 403 ]; then
  pass "GET /api/status without the token is refused ($code)"
else
  fail "GET /api/status without the token answered $code"
fi

# 2. The window appears and its webview loads the page: "/" without a query means
#    the server took the token, set its cookie and redirected.
if wait_log '^reelmap-desktop: page loaded /$'; then
  pass "the webview loaded the UI from the server"
else
  fail "the webview never finished loading /"
fi
WID=""
deadline=$((SECONDS + TIMEOUT))
while [ $SECONDS -lt $deadline ]; do
  WID=$(xwininfo -root -tree 2>/dev/null | awk '/"Reelmap"/ {print $1; exit}')
  [ -n "$WID" ] && break
  sleep 0.25
done
if [ -n "$WID" ]; then
  geo=$(xwininfo -id "$WID" | awk '/Width:/ {w=$2} /Height:/ {h=$2} END {print w "x" h}')
  pass "window \"Reelmap\" ($WID, $geo)"
else
  fail "no window titled \"Reelmap\""
fi

# 3. Screenshot of the window: wait until it is rendered (not blank).
shot="$ART/window.png"
n=0
deadline=$((SECONDS + TIMEOUT))
while [ $SECONDS -lt $deadline ]; do
  sleep 1
  if [ -n "$WID" ]; then
    "$IMPORT" -window "$WID" "$shot" 2>/dev/null || true
  else
    "$IMPORT" -window root "$shot" 2>/dev/null || true
  fi
  n=$(colours "$shot")
  # Text on the page means anti-aliased glyphs: dozens of colours at least.
  [ "${n:-0}" -ge 32 ] && break
done
if [ "${n:-0}" -ge 32 ]; then
  sleep 2 # let the UI settle (fonts, data) for a better picture
  "$IMPORT" -window "${WID:-root}" "$shot" 2>/dev/null || true
  pass "window screenshot has $(colours "$shot") colours: $shot"
else
  fail "window screenshot looks blank (${n:-0} colours): $shot"
fi
if [ "$PLACEHOLDER" = 1 ]; then
  # The placeholder's blue background must fill most of the window.
  blue=$("$IDENTIFY" -format '%[fx:mean.b-mean.r]' "$shot" 2>/dev/null || echo 0)
  if python3 -c "import sys; sys.exit(0 if float('$blue') > 0.4 else 1)"; then
    pass "the placeholder page is shown"
  else
    fail "the placeholder page is not shown (blue-red $blue)"
  fi
fi

# 4. pick_folders from the page: creating the trigger file makes the app's smoke
#    hook call it from the page twice, as the UI does. The native dialog opens;
#    choosing a folder returns it; cancelling the second dialog returns [].
# dialog_window N: waits for the Nth "dialog opened" and for the dialog's window.
dialog_window() {
  local deadline=$((SECONDS + TIMEOUT)) d
  while [ $SECONDS -lt $deadline ]; do
    if [ "$(grep -c '^reelmap-desktop: pick_folders: dialog opened' "$WORK/app.log")" -ge "$1" ]; then
      d=$(xdotool search --onlyvisible --name '^Add folders to Reelmap$' 2>/dev/null | head -n1 || true)
      if [ -n "$d" ]; then
        echo "$d"
        return 0
      fi
    fi
    kill -0 "$APP_PID" 2>/dev/null || return 1
    grep -q 'page loaded /__smoke_failed' "$WORK/app.log" && return 1
    sleep 0.25
  done
  return 1
}
touch "$WORK/pick-now"
if DLG=$(dialog_window 1); then
  pass "the page reached the API and called pick_folders; the folder dialog is shown (remote capability works)"
  sleep 1
  "$IMPORT" -window root "$ART/pick_folders_dialog.png" 2>/dev/null || true
  # Choose $PICK_DIR: type its path in the location bar, then Return. (No window
  # manager here: focus the dialog, then send keys with XTEST.)
  xdotool windowfocus --sync "$DLG" 2>/dev/null || true
  sleep 0.3
  xdotool key ctrl+l
  sleep 0.3
  xdotool type --delay 20 "$PICK_DIR/"
  sleep 0.5
  xdotool key Return
  if wait_log "^reelmap-desktop: pick_folders: 1 folder\\(s\\) chosen: $PICK_DIR/?\$"; then
    pass "choosing $PICK_DIR in the dialog returns it"
  else
    fail "choosing a folder in the dialog did not return it"
    xdotool key Escape 2>/dev/null || true
  fi
  if DLG=$(dialog_window 2); then
    sleep 0.5
    xdotool windowfocus --sync "$DLG" 2>/dev/null || true
    xdotool key Escape
    if wait_log '^reelmap-desktop: pick_folders: 0 folder\(s\) chosen'; then
      pass "cancelling the dialog returns an empty list"
    else
      fail "cancelling the dialog did not return an empty list"
    fi
  else
    fail "the second folder dialog did not open"
  fi
else
  fail "the page could not open the folder dialog through pick_folders"
fi
sleep 0.5
if grep -E 'page loaded /__smoke_failed' "$WORK/app.log" >&2; then
  fail "the page's API or pick_folders call failed (see the line above)"
fi

# 5. SIGTERM: clean exit.
say "stopping the app"
kill -TERM "$APP_PID"
status=""
for _ in $(seq 1 $((TIMEOUT * 4))); do
  if ! kill -0 "$APP_PID" 2>/dev/null; then
    wait "$APP_PID" && status=0 || status=$?
    break
  fi
  sleep 0.25
done
if [ -z "$status" ]; then
  fail "the app did not exit ${TIMEOUT}s after SIGTERM"
  kill -KILL "$APP_PID" 2>/dev/null || true
elif [ "$status" = 0 ] && grep -q '^reelmap-desktop: server stopped' "$WORK/app.log"; then
  pass "SIGTERM: server stopped, exit status 0"
else
  fail "SIGTERM: exit status $status; log:"
  grep '^reelmap-desktop:' "$WORK/app.log" | tail -n 5 >&2
  if grep -q '^reelmap-desktop: server still busy' "$WORK/app.log"; then
    echo "  (the engine's server did not stop in time: an open /api/events stream" \
      "keeps its graceful shutdown waiting unless the stream ends on shutdown)" >&2
  fi
fi
APP_PID=""

echo "artifacts: $ART"
echo "desktop smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
