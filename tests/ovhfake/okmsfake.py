"""The OVHcloud KMS (OKMS) half of the fake (okms-facts.md), served by
ovhfake.py's process on the same port: the API v2 routes under /v2/okms,
signed and checked exactly as v1 (okms-facts §2: the URL in the hash is the
URL requested, from the host root), plus GET /1.0/auth/details.

What it models, each from okms-facts.md:
  GET  /v2/okms/resource/{id}[?publicCA=true]      §3, §4 ResponseWithIAM
  GET  /v2/okms/resource/{id}/credential           §3, paged by cursor (§2)
  POST /v2/okms/resource/{id}/credential           §4 Creation -> CreationResponse
  GET  /v2/okms/resource/{id}/credential/{cid}     §4 GetResponse
  DELETE /v2/okms/resource/{id}/credential/{cid}   §3 (-> DELETING, then gone)
The credential list is paged (okms-facts §2): at most `page_size` items
a page (setup; default 3, small so that tests page: the real default and
maximum are UNCONFIRMED), fewer if X-Pagination-Size asks; the next page's
cursor in the answer's X-Pagination-Cursor-Next (absent on the last page),
sent back as X-Pagination-Cursor.  A cursor names the last item given (by
creation order), so a credential deleted between pages shifts nothing; one
the fake did not issue (or every one, once a test sets cursors_valid
false) is refused, 400 Client::BadRequest::
CredentialPaginationCursorInvalidValue (§3; the message is a GUESS).
A credential is CREATING after its POST and READY after `ready_after` GETs
of it (never, if ready_after is null; §4: how long is UNCONFIRMED).  A CSR
is signed by the OKMS's own test CA for `validity` days (default 365, max
365; §4), client-auth EKU.  Without a CSR the fake does what the API does:
it generates a key and returns privateKeyPEM once (§6): refusing that is the
agent's job, and a test counts that no such POST is ever sent.  Errors are
the documented classes of §5, status 400; their message texts are not
documented (UNCONFIRMED) and are marked GUESS.  A right revoked by a test
(setup "denied": [action]) answers 403 Client::Forbidden with
details.unauthorizedActionsByIAM (§2).

Beside it, the KMIP endpoint (kmipEndpoint "localhost:PORT"): a TLS server
on 127.0.0.1 whose certificate the OKMS CA signed (SAN localhost,
127.0.0.1), which accepts only client certificates that CA signed, so a key
provider is trusted both ways only when the whole flow really worked.  It
records each handshake (accepted or refused).
"""
import base64
import datetime
import json
import re
import secrets
import socket
import ssl
import tempfile
import threading
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MAX_VALIDITY = 365
ASCII = re.compile(r"^[ -~]*$")
URN = re.compile(r"^urn:v1:(eu|ca|us):identity:(account|user|group|credential):[^ ]+$")
ACTIONS = {"resource/get": "okms:apiovh:resource/get",
           "credential/get": "okms:apiovh:credential/get",
           "credential/create": "okms:apiovh:credential/create",
           "credential/delete": "okms:apiovh:credential/delete"}


class ApiError(Exception):
    def __init__(self, status, body):
        self.status, self.body = status, body


class Page(list):
    """A page of a list, and the cursor of the next one (None: the last)."""
    def __init__(self, items, next_cursor):
        super().__init__(items)
        self.next_cursor = next_cursor


def bad(cls, msg):
    return ApiError(400, {"class": "Client::BadRequest::" + cls, "message": msg})


def forbidden(action):
    return ApiError(403, {"class": "Client::Forbidden",
                          "message": "User not granted for this request",
                          "details": {"unauthorizedActionsByIAM": [action]}})


def not_found(what):
    return ApiError(404, {"class": "Client::NotFound",
                          "message": f"The requested object ({what}) does not exist"})


def iso(t):
    return t.isoformat(timespec="microseconds")


# ------------------------------------------------------------ the test CA

class CA:
    """The OKMS's CA: it signs the KMIP server's certificate and every
    credential's CSR."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CCMUsersCA")])
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True,
                                                  True, False, False), True)
                     .sign(self.key, hashes.SHA256()))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, public_key, subject, days, server=False):
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (x509.CertificateBuilder().subject_name(subject)
             .issuer_name(self.cert.subject).public_key(public_key)
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=days)))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(
                    __import__("ipaddress").ip_address("127.0.0.1"))]), False)
            eku = ExtendedKeyUsageOID.SERVER_AUTH
        else:
            eku = ExtendedKeyUsageOID.CLIENT_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([eku]), False)
        return b.sign(self.key, hashes.SHA256())


# ------------------------------------------------------------ the KMIP endpoint

class KmipEndpoint:
    """TLS on 127.0.0.1:0, mutual: a client certificate the CA signed or the
    handshake fails.  Nothing after the handshake (the test bed's vCenter
    only judges the connection); the connection is held until the peer
    closes it."""

    def __init__(self, ca):
        self.ca, self.log = ca, []
        key = ec.generate_private_key(ec.SECP256R1())
        subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        crt = ca.issue(key.public_key(), subj, 365, server=True)
        self.dir = tempfile.mkdtemp(prefix="okms-kmip-")
        paths = {n: f"{self.dir}/{n}" for n in ("crt", "key", "ca")}
        with open(paths["crt"], "wb") as f:
            f.write(crt.public_bytes(serialization.Encoding.PEM))
        with open(paths["key"], "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        with open(paths["ca"], "w") as f:
            f.write(ca.pem)
        self.cert_pem = crt.public_bytes(serialization.Encoding.PEM).decode()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(paths["crt"], paths["key"])
        self.ctx.load_verify_locations(paths["ca"])
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.one, args=(conn,), daemon=True).start()

    def one(self, conn):
        conn.settimeout(10)
        try:
            s = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.log.append({"accepted": False, "error": str(e)})
            conn.close()
            return
        peer = s.getpeercert()
        self.log.append({"accepted": True, "subject": dict(x[0] for x in
                                                          peer.get("subject", ()))})
        try:
            while s.recv(4096):
                pass
        except (ssl.SSLError, OSError):
            pass
        s.close()


# ------------------------------------------------------------ the OKMS state

class Okms:
    """Every OKMS of the account, their credentials, and the endpoint."""

    def __init__(self):
        self.ca = CA()
        self.kmip = KmipEndpoint(self.ca)
        self.reset({})

    def reset(self, cfg):
        """cfg: {"resources": [{"id", "region"?}], "ready_after": N|None,
        "end_state": "READY"|"ERROR", "identities": [URN], "denied": [action],
        "credentials": {okmsId: [credential]} (pre-existing)}."""
        self.ready_after = cfg.get("ready_after", 1)
        self.end_state = cfg.get("end_state", "READY")
        self.identities = cfg.get("identities",
                                  ["urn:v1:eu:identity:account:xx1111-ovh"])
        self.denied = set(cfg.get("denied", []))
        self.max_validity = cfg.get("max_validity", MAX_VALIDITY)
        self.signer = self.ca
        self.page_size = cfg.get("page_size", 3)
        self.cursors = {}           # issued: token -> the last item's seq
        self.cursors_valid = True
        self.seq = 0
        self.resources = {}
        for r in cfg.get("resources", []):
            self.resources[r["id"]] = {"region": r.get("region", "eu-west-rbx"),
                                       "creds": {}}
        for oid, creds in cfg.get("credentials", {}).items():
            for c in creds:
                c = dict(c)
                c.setdefault("_gets", 0)
                c["_seq"] = self.next_seq()
                self.resources[oid]["creds"][c["id"]] = c
        self.posts = []

    def change(self, cfg):
        """What a test changes mid-way, credentials kept: ready_after,
        end_state, denied, max_validity."""
        for k in ("ready_after", "end_state", "max_validity"):
            if k in cfg:
                setattr(self, k, cfg[k])
        if "other_ca" in cfg:       # sign with a CA the KMIP endpoint does not trust
            self.signer = CA() if cfg["other_ca"] else self.ca
        if "denied" in cfg:
            self.denied = set(cfg["denied"])
        if "page_size" in cfg:
            self.page_size = cfg["page_size"]
        if "cursors_valid" in cfg:  # false: every cursor refused (as if expired)
            self.cursors_valid = cfg["cursors_valid"]

    def next_seq(self):
        self.seq += 1
        return self.seq

    def page(self, res, headers):
        """One page of res's credentials (okms-facts §2, §3)."""
        after = 0
        cur = headers.get("X-Pagination-Cursor")
        if cur is not None:
            if not self.cursors_valid or cur not in self.cursors:
                raise bad("CredentialPaginationCursorInvalidValue",
                          "Invalid pagination cursor")                           # GUESS
            after = self.cursors[cur]
        size = self.page_size
        want = headers.get("X-Pagination-Size")
        if want is not None and want.isdigit() and 0 < int(want) < size:
            size = int(want)
        items = sorted((c for c in res["creds"].values()
                        if c["status"] != "GONE" and c["_seq"] > after),
                       key=lambda c: c["_seq"])
        page, rest = items[:size], items[size:]
        nxt = None
        if rest:
            nxt = base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()
            self.cursors[nxt] = page[-1]["_seq"]
        return Page([self.view(c) for c in page], nxt)

    def endpoint(self):
        return f"localhost:{self.kmip.port}"

    # -------------------------------------------------------- routes
    def route(self, method, path, query, raw, headers=None):
        """path without the query, starting with /v2/okms/resource; headers:
        the request's (the pagination ones are read).  A list answers a
        Page."""
        parts = path.strip("/").split("/")[3:]       # after v2/okms/resource
        if not parts:
            raise not_found("path")
        res = self.resources.get(parts[0])
        if len(parts) == 1 and method == "GET":
            self.allow("resource/get")
            if res is None:
                raise not_found(f"okmsId = {parts[0]}")
            return self.resource(parts[0], res, query.get("publicCA") == ["true"])
        if res is None:
            raise not_found(f"okmsId = {parts[0]}")
        if parts[1:] == ["credential"] and method == "GET":
            self.allow("credential/get")
            return self.page(res, headers or {})
        if parts[1:] == ["credential"] and method == "POST":
            self.allow("credential/create")
            return self.create(res, raw)
        if len(parts) == 3 and parts[1] == "credential":
            c = res["creds"].get(parts[2])
            if method == "GET":
                self.allow("credential/get")
                if c is None or c["status"] == "GONE":
                    raise not_found(f"credentialId = {parts[2]}")
                return self.get(c)
            if method == "DELETE":
                self.allow("credential/delete")
                if c is None or c["status"] == "GONE":
                    raise not_found(f"credentialId = {parts[2]}")
                if c["status"] == "CREATING":     # UNCONFIRMED (okms-facts, item 4)
                    raise bad("CredentialStatusInvalid", "Credential status is invalid")
                c["status"] = "DELETING"
                v = self.view(c)
                c["status"] = "GONE"
                return v
        raise not_found("path")

    def allow(self, what):
        if ACTIONS[what] in self.denied:
            raise forbidden(ACTIONS[what])

    def resource(self, oid, res, ca):
        host = self.endpoint()
        out = {"id": oid, "region": res["region"], "kmipEndpoint": host,
               "kmipRsaEndpoint": None, "restEndpoint": "https://" + host.split(":")[0],
               "swaggerEndpoint": "https://swagger-" + host.split(":")[0],
               "kmipObjectCount": 0, "secretCount": 0, "secretVersionCount": 0,
               "serviceKeyCount": 0,
               "iam": {"id": oid, "urn": f"urn:v1:eu:resource:okms:{oid}",
                       "displayName": f"okms-{res['region']}", "state": "OK"}}
        if ca:
            out["publicCA"] = self.ca.pem
            out["publicRsaCA"] = None
        return out

    def view(self, c):
        return {k: v for k, v in c.items() if not k.startswith("_") and
                k not in ("certificatePEM", "privateKeyPEM")}

    def get(self, c):
        if c["status"] == "CREATING":
            c["_gets"] += 1
            if self.ready_after is not None and c["_gets"] >= self.ready_after:
                c["status"] = self.end_state
                if c["status"] == "READY":
                    c["certificatePEM"] = c.pop("_pem")
        out = self.view(c)
        out["certificatePEM"] = c.get("certificatePEM")
        return out

    def create(self, res, raw):
        try:
            b = json.loads(raw)
        except ValueError:
            raise ApiError(400, {"class": "Client::BadRequest",
                                 "message": "Invalid JSON in the request body"})
        self.posts.append(b)
        name, urns = b.get("name"), b.get("identityURNs")
        desc, validity, csr = b.get("description"), b.get("validity", 365), b.get("csr")
        if not isinstance(name, str) or not ASCII.match(name) or not name:
            raise bad("CredentialNameInvalidCharacter", "Invalid name")          # GUESS
        if len(name) > 50:
            raise bad("CredentialNameMaximumExceeded", "Name is too long")       # GUESS
        if desc is not None and (not isinstance(desc, str) or not ASCII.match(desc)):
            raise bad("CredentialDescriptionInvalidCharacter", "Invalid description")
        if desc is not None and len(desc) > 200:
            raise bad("CredentialDescriptionMaximumExceeded", "Description too long")
        if not isinstance(urns, list) or not urns:
            raise bad("CredentialIdentityURNsMinimumRequired",
                      "At least one identity URN is required")                   # GUESS
        if len(urns) > 25:
            raise bad("CredentialIdentityURNsMaximumExceeded", "Too many identity URNs")
        if not all(isinstance(u, str) and URN.match(u) for u in urns):
            raise bad("CredentialIdentityURNsInvalidURN", "Invalid identity URN")
        if not isinstance(validity, int) or validity < 1:
            raise bad("CredentialValidityMinimumRequired", "Validity must be at least "
                      "1 day")                                                   # GUESS
        if validity > self.max_validity:        # 365 documented; lower: a test's
            raise bad("CredentialValidityMaximumExceeded", "Validity must be at most "
                      f"{self.max_validity} days")                               # GUESS
        if csr is not None and b.get("certificateType") is not None:
            raise bad("CredentialCertificateTypeIncompatibleFields",
                      "certificateType is incompatible with csr")
        cid = str(uuid.uuid4())
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cid)])
        c = {"id": cid, "name": name, "description": desc, "identityURNs": urns,
             "status": "CREATING", "fromCSR": csr is not None, "createdAt": iso(now),
             "expiredAt": iso(now + datetime.timedelta(days=validity)), "_gets": 0,
             "_seq": self.next_seq()}
        key_pem = None
        if csr is not None:
            if not isinstance(csr, str) or len(csr) > 16384:
                raise bad("CredentialCSRMaximumExceeded", "CSR is too long")     # GUESS
            try:
                req = x509.load_pem_x509_csr(csr.encode())
                ok = req.is_signature_valid
            except (ValueError, TypeError):
                ok = False
            if not ok:
                # Which class an unparsable CSR gets is UNCONFIRMED: the
                # documented one nearest to it.
                raise bad("CredentialCSRInvalidCharacter", "Invalid CSR")        # GUESS
            pub = req.public_key()
        else:
            key = ec.generate_private_key(ec.SECP256R1()) \
                if b.get("certificateType", "ECDSA") == "ECDSA" \
                else rsa.generate_private_key(65537, 2048)
            pub = key.public_key()
            key_pem = key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
        c["certificateType"] = "RSA" if isinstance(pub, rsa.RSAPublicKey) else "ECDSA"
        c["_pem"] = self.signer.issue(pub, subject, validity).public_bytes(
            serialization.Encoding.PEM).decode()
        res["creds"][cid] = c
        out = self.view(c)
        if key_pem is not None:
            out["privateKeyPEM"] = key_pem
        return out

    def state(self):
        return {"posts": self.posts, "kmip": self.kmip.log, "endpoint": self.endpoint(),
                "ca": self.ca.pem, "kmip_cert": self.kmip.cert_pem,
                "resources": {oid: {"region": r["region"],
                                    "credentials": [dict(self.view(c), certificatePEM=c.get(
                                        "certificatePEM"), gets=c["_gets"])
                                        for c in r["creds"].values()]}
                              for oid, r in self.resources.items()}}
