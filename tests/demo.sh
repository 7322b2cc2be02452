#!/bin/sh
# make demo: a local vcsim (govmomi's simulator, embedded default) with a few
# VMs; the KMS added to it by `vmcrypt-agent setup` (key provider, trust
# both ways, default, policy, check); then the agent against it: the inventory, then `run`
# in the foreground (Ctrl-C to stop).
set -eu
BIN=$1
TOOLS=$2
DIR=$(mktemp -d /tmp/vmcrypt-demo.XXXXXX)
KMS=
trap 'kill $VCSIM $KMS 2>/dev/null || true; rm -rf "$DIR"' EXIT INT TERM

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/vc.key" -out "$DIR/vc.crt" \
    -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
"$TOOLS/vcsimd" -tlscert "$DIR/vc.crt" -tlskey "$DIR/vc.key" -username demo \
    -password demo-password -vm 3 -url-file "$DIR/url" >"$DIR/vcsim.log" 2>&1 &
VCSIM=$!
while [ ! -s "$DIR/url" ]; do sleep 0.1; done
URL=$(cat "$DIR/url")

# The KMS: a TLS endpoint of its own (openssl s_server on a free port), for
# vCenter (here the test bed) connects to it to report its Connection Status.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/kms.key" -out "$DIR/kms.crt" \
    -days 365 -subj /CN=kms-1 2>/dev/null
KMS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl s_server -quiet -accept "127.0.0.1:$KMS_PORT" -cert "$DIR/kms.crt" -key "$DIR/kms.key" \
    </dev/null >/dev/null 2>&1 &
KMS=$!
# Until it accepts: setup reads its certificate at once.
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $KMS_PORT), 1)" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "the demo KMS (openssl s_server) did not start" >&2; exit 1; }
	sleep 0.1
done

export GOVC_URL="$URL" GOVC_USERNAME=demo GOVC_PASSWORD=demo-password GOVC_TLS_CA_CERTS="$DIR/vc.crt"
cat >"$DIR/agent.xml" <<XML
<?xml version="1.0"?>
<vmcrypt-agent version="1">
  <vcenter url="$URL" user="demo" pbm-path="/pbm"><tls ca-file="$DIR/vc.crt"/></vcenter>
  <kms cluster="ovh-kms"><server name="kms-1" address="127.0.0.1" port="$KMS_PORT"/></kms>
  <state-dir>$DIR</state-dir>
</vmcrypt-agent>
XML
export VMCRYPT_VC_PASSWORD=demo-password
# The guide, by the agent (`setup`): thumbprint, key provider, trust both
# ways, default, Connection Status, encryption policy, readiness check, and
# the canary (a throwaway VM encrypted and deleted).  The thumbprint is the one the KMS admin
# gives (here: read from its certificate with openssl).
THUMB=$(openssl x509 -in "$DIR/kms.crt" -noout -fingerprint -sha1 | cut -d= -f2)
echo "== vmcrypt-agent setup --thumbprint $THUMB --canary"
"$BIN" setup --config "$DIR/agent.xml" --thumbprint "$THUMB" --canary
echo "== vcsim at $URL; key providers as vCenter lists them (govc kms.ls):"
"$TOOLS/govc" kms.ls
echo "== vmcrypt-agent inventory (before): every VM pending"
"$BIN" inventory --config "$DIR/agent.xml"
echo "== vmcrypt-agent run (Ctrl-C to stop): it reconciles the existing VMs, then"
echo "   in 3 s a new VM is created and another is powered on, in 6 s powered off"
(
	sleep 3
	"$TOOLS/govc" vm.create -on=false -host DC0_H0 -net "VM Network" -disk 1G demo-new-vm >/dev/null
	"$TOOLS/govc" vm.create -on=true -host DC0_H0 -net "VM Network" -disk 1G demo-running-vm >/dev/null
	sleep 3
	"$TOOLS/govc" vm.power -off demo-running-vm >/dev/null
	sleep 1
	echo "== vmcrypt-agent inventory (after): every VM compliant"
	"$BIN" inventory --config "$DIR/agent.xml" 2>/dev/null
	echo "== the audit trail in vCenter (govc events vm/demo-new-vm)"
	"$TOOLS/govc" events vm/demo-new-vm | tail -3
) &
if [ -n "${DEMO_SECONDS:-}" ]; then
	"$BIN" run --config "$DIR/agent.xml" & AGENT=$!
	sleep "$DEMO_SECONDS"; kill -TERM $AGENT; wait $AGENT
else
	"$BIN" run --config "$DIR/agent.xml"
fi
