#!/usr/bin/env bash
# Install the prebuilt OHIF Viewer v3 (npm `@ohif/app`, its `dist/`) for `/browse`.
#
#   scripts/install-ohif.sh [DIR]      DIR: default $OHIF_DIR, else vendor/ohif in this checkout
#
# Only `npm pack` is used: it downloads the one pinned tarball, checked against the pinned
# integrity, so no dependency is installed and no package script runs (as root on Debian,
# Debian's npm is installed first when there is none). The viewer is built for the site root,
# so these are rewritten for /browse/ (the run fails if one is not found: a new OHIF version
# needs looking at):
#   * index.html: every `="/…` reference (scripts, styles, icons, window.PUBLIC_URL);
#     the service-worker script is dropped (its worker loads Workbox from a CDN);
#   * each bundle's webpack public path (`__webpack_require__.p = "/"`, where lazy chunks,
#     workers and WebAssembly are loaded from), and the microscopy viewer's absolute path;
#   * the font URLs in app.bundle.css, and manifest.json's icon paths.
# The shipped `app-config.js` is not used: the bridge generates one per request
# (adapters/http/ohif.py). Nothing is done when this version is already installed.
set -euo pipefail

OHIF_VERSION=3.13.2
OHIF_INTEGRITY=sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA==
BASE=/browse/
REWRITES=2  # raise when the rewrites below change: installs with fewer are redone
MARKER=.slicer-bridge-ohif.json

here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-${OHIF_DIR:-$(dirname "$here")/vendor/ohif}}
python=${PYTHON:-python3}
expected="{\"package\": \"@ohif/app\", \"version\": \"$OHIF_VERSION\", \"base\": \"$BASE\", \"rewrites\": $REWRITES}"

if [ -f "$dest/$MARKER" ] && [ "$(cat "$dest/$MARKER")" = "$expected" ] \
  && [ -f "$dest/index.html" ]; then
  echo "OHIF $OHIF_VERSION is installed in $dest"
  exit 0
fi
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing npm (Debian package), which install-ohif.sh needs"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends npm; }
  else
    echo "install-ohif: npm is needed: install it as root (apt-get install npm)" >&2
    exit 1
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "downloading @ohif/app@$OHIF_VERSION from the npm registry"
npm pack --silent --json --pack-destination "$work" "@ohif/app@$OHIF_VERSION" >"$work/pack.json"
"$python" - "$work/pack.json" "$OHIF_INTEGRITY" <<'EOF'
import json, sys
pack = json.load(open(sys.argv[1]))[0]
if pack["integrity"] != sys.argv[2]:
    sys.exit(f"install-ohif: {pack['filename']} has integrity {pack['integrity']}, "
             f"expected {sys.argv[2]}")
EOF
tar -xzf "$work"/ohif-app-"$OHIF_VERSION".tgz -C "$work" package/dist

"$python" - "$work/package/dist" "$BASE" <<'EOF'
import pathlib, sys
dist, base = pathlib.Path(sys.argv[1]), sys.argv[2]

def rewrite(path, pairs):
    text = path.read_text(encoding="utf-8")
    for old, new in pairs:
        if old not in text:
            sys.exit(f"install-ohif: {path.name} has no {old!r}: this OHIF version is not "
                     "the one this script knows how to serve at " + base)
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")

worker = f'<script rel="preload" as="script" type="module" src="{base}init-service-worker.js"></script>'
rewrite(dist / "index.html", [('="/', f'="{base}'), (worker, "")])
rewrite(dist / "manifest.json", [('"/assets/', f'"{base}assets/')])
rewrite(dist / "app.bundle.css", [("url(/", f"url({base}")])
public_path = '__webpack_require__.p = "/";'
bundles = [p for p in dist.glob("*.js") if public_path in p.read_text(encoding="utf-8")]
if not any(p.name.startswith("app.bundle.") for p in bundles):
    sys.exit(f"install-ohif: the app bundle does not set {public_path!r}")
for path in bundles:
    rewrite(path, [(public_path, f'__webpack_require__.p = "{base}";')])
app = next(p for p in bundles if p.name.startswith("app.bundle."))
rewrite(app, [("'/dicom-microscopy-viewer/", f"'{base}dicom-microscopy-viewer/")])
print(f"rewrote index.html, manifest.json, app.bundle.css and {len(bundles)} bundle(s) for {base}")
EOF

printf '%s' "$expected" >"$work/package/dist/$MARKER"
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial"
mv "$work/package/dist" "$dest.partial"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "OHIF $OHIF_VERSION installed in $dest (served at $BASE)"
