#!/bin/sh
# Installs what `make check` and `make demo` need, only what is missing, so
# it is cheap to run every time.  Debian 12, as root (or with sudo).
set -eu

APT_PKGS="gcc make pkg-config gsoap libgsoap-dev libuv1-dev libxml2-dev
libxml2-utils libssl-dev libjson-c-dev libcmocka-dev openssl python3
python3-pytest golang-go"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=""
for p in $APT_PKGS; do
	case "$p" in
	golang-go) command -v go >/dev/null 2>&1 && continue ;;
	python3-pytest) python3 -m pytest --version >/dev/null 2>&1 && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
	    missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup-deps: installing:$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# govmomi v0.56 needs a newer Go than Debian 12 ships; Go fetches the
# toolchain it needs through the Go module proxy (GOTOOLCHAIN=auto).
go version >/dev/null
echo "setup-deps: ok ($(go version | cut -d' ' -f3), $(soapcpp2 -V 2>&1 | head -n1 | tr -d '\n' || true))"
