#!/bin/sh
# Builds build/pkg/vmcrypt-agent_VERSION_ARCH.deb with dpkg-deb from a
# hardened build (dpkg-buildflags' hardening: PIE, stack protector,
# FORTIFY_SOURCE, full RELRO).  `make deb` runs it.
set -eu
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's/^VERSION *:= *//p' Makefile)
ARCH=$(dpkg --print-architecture)
OUT=build/pkg
ROOT=$OUT/deb-root

make -s HARDEN=1 SANITIZE= all
BIN=build-rel/vmcrypt-agent

rm -rf "$ROOT"
mkdir -p "$ROOT/DEBIAN"
install -D -m 0755 "$BIN" "$ROOT/usr/bin/vmcrypt-agent"
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
    "$ROOT/usr/bin/vmcrypt-agent"
install -D -m 0644 packaging/vmcrypt-agent.service \
    "$ROOT/lib/systemd/system/vmcrypt-agent.service"
install -D -m 0644 packaging/vmcrypt-agent@.service \
    "$ROOT/lib/systemd/system/vmcrypt-agent@.service"
install -D -m 0644 packaging/vmcrypt-agent-renew.service \
    "$ROOT/lib/systemd/system/vmcrypt-agent-renew.service"
install -D -m 0644 packaging/vmcrypt-agent-renew.timer \
    "$ROOT/lib/systemd/system/vmcrypt-agent-renew.timer"
install -D -m 0644 packaging/vmcrypt-agent.sysusers \
    "$ROOT/usr/lib/sysusers.d/vmcrypt-agent.conf"
install -D -m 0644 packaging/vmcrypt-agent.xml "$ROOT/etc/vmcrypt-agent/vmcrypt-agent.xml"
install -d -m 0755 "$ROOT/usr/share/man/man8" "$ROOT/usr/share/doc/vmcrypt-agent"
gzip -9n < packaging/vmcrypt-agent.8 > "$ROOT/usr/share/man/man8/vmcrypt-agent.8.gz"
gzip -9n < packaging/debian/changelog > "$ROOT/usr/share/doc/vmcrypt-agent/changelog.gz"
install -m 0644 packaging/debian/copyright "$ROOT/usr/share/doc/vmcrypt-agent/copyright"
install -m 0644 policies/example.xml "$ROOT/usr/share/doc/vmcrypt-agent/example.xml"
chmod 0644 "$ROOT/usr/share/man/man8/vmcrypt-agent.8.gz" \
    "$ROOT/usr/share/doc/vmcrypt-agent/changelog.gz"

# Depends from the libraries the binary links (dpkg-shlibdeps wants a
# debian/control to read; a minimal one in a scratch directory).
tmp=$(mktemp -d)
mkdir "$tmp/debian"
printf 'Source: vmcrypt-agent\n\nPackage: vmcrypt-agent\nArchitecture: any\n' > "$tmp/debian/control"
deps=$(cd "$tmp" && dpkg-shlibdeps -O --warnings=0 "$OLDPWD/$ROOT/usr/bin/vmcrypt-agent" |
    sed -n 's/^shlibs:Depends=//p')
rm -rf "$tmp"

size=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$size/" \
    -e "s/@DEPENDS@/$deps/" packaging/debian/control.in > "$ROOT/DEBIAN/control"
install -m 0644 packaging/debian/conffiles "$ROOT/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "packaging/debian/$s" "$ROOT/DEBIAN/$s"
done
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print |
    sed 's,^\./,,' | sort | xargs md5sum) > "$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/md5sums"

DEB=$OUT/vmcrypt-agent_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
