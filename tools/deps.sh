#!/bin/sh
# deps.sh — make sure the Debian packages the build, tests and demo need are
# installed: installs them when run as root, otherwise prints the exact
# apt-get line and fails.  Arguments: package names.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq $missing >/dev/null || { echo "deps: apt-get install failed:$missing" >&2; exit 1; }
else
    echo "deps: missing packages; run:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
fi
