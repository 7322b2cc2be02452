#!/bin/sh
# Installs what `make check` and `make demo` need, only what is missing, so
# it is cheap to run every time.  Debian 12, as root (or with sudo).
set -eu
cd "$(dirname "$0")/.."

APT_PKGS="gcc make pkg-config gsoap libgsoap-dev libuv1-dev libxml2-dev zlib1g-dev
libxml2-utils libssl-dev libjson-c-dev libinih-dev libcmocka-dev openssl python3
python3-pytest python3-pip golang-go chromium
dpkg-dev lintian rpm rpm2cpio cpio systemd man-db time"
# `tests/setup-deps.sh fuzz` adds clang and its libFuzzer runtime.
[ "${1:-}" = fuzz ] && APT_PKGS="$APT_PKGS clang libclang-rt-14-dev"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=""
for p in $APT_PKGS; do
	case "$p" in
	golang-go) command -v go >/dev/null 2>&1 && continue ;;
	python3-pytest) python3 -m pytest --version >/dev/null 2>&1 && continue ;;
	python3-pip) python3 -m pip --version >/dev/null 2>&1 && continue ;;
	clang) command -v clang >/dev/null 2>&1 && continue ;;
	libclang-rt-14-dev)
		f=$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null) || f=""
		[ -f "$f" ] && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
	    missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup-deps: installing:$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# govmomi v0.56 needs Go 1.25.  Any Go >= 1.21 fetches that toolchain itself
# through the Go module proxy (GOTOOLCHAIN=auto); Debian 12's own golang-go
# is 1.19, too old for that, so take golang-1.23 from bookworm-backports.
go_ok() {
	v=$(go env GOVERSION 2>/dev/null | sed 's/^go//') || return 1
	[ "$(printf '%s\n1.21\n' "$v" | sort -V | head -n1)" = "1.21" ]
}
if ! go_ok; then
	if [ ! -x /usr/lib/go-1.23/bin/go ]; then
		echo "setup-deps: Go >= 1.21 needed; installing golang-1.23-go from bookworm-backports"
		echo "deb http://deb.debian.org/debian bookworm-backports main" |
		    $SUDO tee /etc/apt/sources.list.d/vmcrypt-backports.list >/dev/null
		$SUDO apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports golang-1.23-go >/dev/null
	fi
	echo "setup-deps: using /usr/lib/go-1.23/bin/go (the Makefile puts it on PATH)"
	PATH=/usr/lib/go-1.23/bin:$PATH
fi
go version >/dev/null

# Python packages the tests use as real peers (PyKMIP's server, ...): pinned
# in tests/requirements.txt, installed into .deps/python (the tests put it on
# PYTHONPATH), never into the system's Python.  A stamp holds the hash of the
# requirements, so a change reinstalls and nothing else does.
PYDEPS=.deps/python
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$PYDEPS/.stamp" 2>/dev/null)" != "$want" ]; then
	echo "setup-deps: installing Python test packages into $PYDEPS"
	rm -rf "$PYDEPS"
	python3 -m pip install -q --disable-pip-version-check --no-warn-script-location \
	    --target "$PYDEPS" -r tests/requirements.txt
	echo "$want" > "$PYDEPS/.stamp"
fi
echo "setup-deps: ok ($(go version | cut -d' ' -f3), $(soapcpp2 -V 2>&1 | head -n1 | tr -d '\n' || true))"
