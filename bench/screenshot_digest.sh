#!/bin/sh
# Preview the next digests and photograph the first HTML one with headless Chromium.
#   make demo && sh bench/screenshot_digest.sh [OUT.png]      (default var/preview/digest.png)
# Needs `chromium` (apt-get install -y chromium); without it, prints where the HTML is.
set -eu
cd "$(dirname "$0")/.."
out="${1:-var/preview/digest.png}"
.venv/bin/migwatch digest --dry-run --out var/preview
html="$(ls var/preview/*.html 2>/dev/null | head -n 1)"
[ -n "$html" ] || { echo "no HTML preview (nothing new for any email subscriber)"; exit 0; }
command -v chromium >/dev/null || { echo "chromium not installed; open $html in a browser"; exit 0; }
profile="$(mktemp -d)"
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
  --screenshot="$out" --window-size=900,1400 "file://$(pwd)/$html" 2>/dev/null
rm -rf "$profile"
echo "screenshot of $html: $out"
