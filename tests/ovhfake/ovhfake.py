"""A fake of the OVHcloud API v1 (the calls `vmcrypt-agent ovh` makes), over
HTTPS on loopback, for tests.  No public simulator exists.

It checks every request independently of the agent: the application key,
the consumer key and its access rules, the timestamp against its own clock
(which can be set off from the machine's, so a client that does not use
GET /auth/time fails), and the signature, recomputed here with hashlib
from the URL the client asked for and the exact body bytes received.
Every request and the verdict on it is recorded (GET /fake/log).

Error bodies follow what OVHcloud's clients parse (api-facts H.5):
{"errorCode", "httpCode", "message"} for authentication failures, {"class",
"message"} otherwise, and an X-Ovh-QueryID header on every answer.  The
errorCode and status for a bad signature or a skewed timestamp are not
documented (api-facts: UNCONFIRMED); the values used are marked GUESS.

Controls (no authentication, loopback only):
  POST /fake/setup   {"apps": {AK: AS}, "consumers": {CK: {"app": AK,
                      "rules": [{"method", "path"}], "state": "validated"}},
                      "services": {name: {"state": ..., "kms": [entry]}},
                      "task_script": ["todo", "doing", "done"],
                      "clock_offset": seconds}
  POST /fake/validate/CK   the user validates a consumer key
  GET  /fake/log, GET /fake/state
  "okms": {...} in /fake/setup configures the OKMS half (okmsfake.py: its
  OKMS resources, credentials, identities, revoked rights); GET /fake/okms
  reads its state (POST bodies, the KMIP endpoint's handshakes, the CA);
  POST /fake/okms {"ready_after", "denied", ...} changes it mid-test.
"faults": [{"method", "path" (a prefix), "status", "count", "raw"?}] answer
the next count matching requests with that status (after the checks), as a
failing front would, with OVH's error body or the raw bytes given.
Run: ovhfake.py --cert C --key K --port-file F
"""
import argparse
import fnmatch
import hashlib
import http.server
import ipaddress
import json
import re
import secrets
import ssl
import threading
import time
import urllib.parse

import okmsfake

LOCK = threading.Lock()
STATE = {}
LOG = []
QID = [0]
TOLERANCE = 30          # seconds a timestamp may be off; GUESS


def reset(cfg):
    STATE.clear()
    STATE.update(apps=cfg.get("apps", {}), consumers=cfg.get("consumers", {}),
                 services={}, tasks={}, next_task=1000, next_kms=350,
                 task_script=cfg.get("task_script", ["todo", "doing", "done"]),
                 faults=cfg.get("faults", []),
                 clock_offset=cfg.get("clock_offset", 0))
    for name, s in cfg.get("services", {}).items():
        STATE["services"][name] = {"state": s.get("state", "disabled"),
                                   "kms": {e["kmsId"]: e for e in s.get("kms", [])}}
    LOG.clear()
    if OKMS[0] is not None:
        OKMS[0].reset(cfg.get("okms", {}))


OKMS = [None]           # okmsfake.Okms, made at start (its CA, its endpoint)
reset({})


def now():
    return int(time.time()) + STATE["clock_offset"]


def sign(secret, ck, method, url, body, ts):
    """api-facts H.2, written here from the spec (tests check it against the
    official vectors)."""
    h = hashlib.sha1()
    h.update("+".join([secret, ck, method, url]).encode() + b"+" + body + b"+" +
             str(ts).encode())
    return "$1$" + h.hexdigest()


THUMB = re.compile(r"^([0-9A-F]{2}:){19}[0-9A-F]{2}$")


class Reply(Exception):
    def __init__(self, status, body):
        self.status, self.body = status, body


class RawReply(Exception):
    def __init__(self, status, data):
        self.status, self.data = status, data


def auth_error(status, code, msg):
    return Reply(status, {"errorCode": code, "httpCode": f"{status} Forbidden"
                          if status == 403 else f"{status} Bad Request", "message": msg})


def not_found(what):
    return Reply(404, {"class": "Client::NotFound",
                       "message": f"The requested object ({what}) does not exist"})


def bad_request(msg):
    return Reply(400, {"class": "Client::BadRequest", "message": msg})


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def send(self, status, body, rec=None):
        extra = {}
        if isinstance(body, okmsfake.Page) and body.next_cursor is not None:
            extra["X-Pagination-Cursor-Next"] = body.next_cursor
        self.send_raw(status, b"" if body is None else json.dumps(body).encode(), rec, extra)

    def send_raw(self, status, data, rec=None, extra=None):
        QID[0] += 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Ovh-QueryID", f"FAKE.ext-{QID[0]}.{secrets.token_hex(4)}")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
            if rec is not None:
                rec["next_cursor"] = v
        self.end_headers()
        self.wfile.write(data)
        if rec is not None:
            rec["status"] = status
            rec["qid"] = f"FAKE.ext-{QID[0]}"

    def handle_any(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        path = self.path
        if path.startswith("/fake/"):
            return self.control(method, path, raw)
        rec = {"method": method, "path": path, "body": raw.decode("utf-8", "replace"),
               "signed": False, "signature_ok": None, "time": time.time(),
               "cursor": self.headers.get("X-Pagination-Cursor")}
        with LOCK:
            LOG.append(rec)
            try:
                status, body = self.api(method, path, raw, rec)
            except Reply as r:
                status, body = r.status, r.body
            except RawReply as r:
                return self.send_raw(r.status, r.data, rec)
            self.send(status, body, rec)

    # ------------------------------------------------------------ controls
    def control(self, method, path, raw):
        with LOCK:
            if method == "POST" and path == "/fake/setup":
                reset(json.loads(raw))
                return self.send(200, {"ok": True})
            if method == "POST" and path.startswith("/fake/validate/"):
                ck = path.rsplit("/", 1)[1]
                STATE["consumers"][ck]["state"] = "validated"
                return self.send(200, {"ok": True})
            if method == "GET" and path == "/fake/okms":
                return self.send(200, OKMS[0].state())
            if method == "POST" and path == "/fake/okms":
                OKMS[0].change(json.loads(raw))
                return self.send(200, {"ok": True})
            if method == "GET" and path == "/fake/log":
                return self.send(200, LOG)
            if method == "GET" and path == "/fake/state":
                s = {k: v for k, v in STATE.items() if k != "tasks"}
                s["tasks"] = [{k: v for k, v in t.items() if not k.startswith("_")}
                              for t in STATE["tasks"].values()]
                s["services"] = {n: {"state": v["state"], "kms": list(v["kms"].values())}
                                 for n, v in STATE["services"].items()}
                return self.send(200, s)
        self.send(404, {"message": "no such control"})

    # ------------------------------------------------------------ the API
    def check_auth(self, method, path, raw, rec, signed):
        ak = self.headers.get("X-Ovh-Application")
        if not ak or ak not in STATE["apps"]:
            raise auth_error(403, "INVALID_KEY", "Invalid application key")
        if not signed:
            return None
        rec["signed"] = True
        ck = self.headers.get("X-Ovh-Consumer")
        ts = self.headers.get("X-Ovh-Timestamp")
        sig = self.headers.get("X-Ovh-Signature")
        if not ck:
            raise auth_error(403, "NOT_CREDENTIAL", "You must login first")
        c = STATE["consumers"].get(ck)
        if c is None or c["app"] != ak:
            raise auth_error(403, "INVALID_CREDENTIAL", "This credential does not exist")
        if c.get("state", "validated") != "validated":
            raise auth_error(403, "INVALID_CREDENTIAL", "This credential is not valid")
        if not ts or not ts.isdigit() or abs(int(ts) - now()) > TOLERANCE:
            rec["skew"] = None if not ts or not ts.isdigit() else int(ts) - now()
            raise auth_error(400, "QUERY_TIME_OUT", "Query out of time")   # GUESS
        url = f"https://{self.headers.get('Host')}{path}"
        want = sign(STATE["apps"][ak], ck, method, url, raw, ts)
        rec["signature_ok"] = sig == want
        if sig != want:
            raise auth_error(400, "INVALID_SIGNATURE", "Invalid signature")  # GUESS
        # v1 rules name paths after /1.0; v2 ones from the host root
        # (/v2/...), without the query string.
        api_path = path[len("/1.0"):] if path.startswith("/1.0/") else path.split("?")[0]
        if not any(r["method"] == method and fnmatch.fnmatchcase(api_path, r["path"])
                   for r in c["rules"]):
            raise auth_error(403, "NOT_GRANTED_CALL", "This call has not been granted")
        return c

    def api(self, method, path, raw, rec):
        if path.startswith("/v2/okms/resource/"):
            return self.okms(method, path, raw, rec)
        if not path.startswith("/1.0/"):
            raise not_found("path")
        p = path[len("/1.0"):]
        if method == "GET" and p == "/auth/details":
            self.check_auth(method, path, raw, rec, signed=True)
            return 200, {"method": "account", "account": "xx1111-ovh",
                         "identities": OKMS[0].identities}
        if method == "GET" and p == "/auth/time":
            return 200, now()
        if method == "POST" and p == "/auth/credential":
            self.check_auth(method, path, raw, rec, signed=False)
            req = self.json_body(raw)
            rules = req.get("accessRules")
            if not isinstance(rules, list) or not rules:
                raise bad_request("Invalid parameter accessRules")
            ck = secrets.token_hex(16)
            STATE["consumers"][ck] = {"app": self.headers["X-Ovh-Application"],
                                      "rules": rules, "state": "pendingValidation"}
            return 200, {"consumerKey": ck, "state": "pendingValidation",
                         "validationUrl": "https://www.ovh.com/auth/sso/api?credentialToken="
                         + secrets.token_hex(8)}
        self.check_auth(method, path, raw, rec, signed=True)
        for f in STATE["faults"]:
            if f["count"] > 0 and f["method"] == method and p.startswith(f["path"]):
                f["count"] -= 1
                if "raw" in f:          # an answer that is not what the API sends
                    raise RawReply(f["status"], f["raw"].encode())
                raise Reply(f["status"], {"class": "Server::InternalServerError",
                                          "message": "Internal server error"})
        parts = p.strip("/").split("/")
        if parts[0] != "dedicatedCloud":
            raise not_found("path")
        if len(parts) == 1 and method == "GET":
            return 200, sorted(STATE["services"])
        svc = STATE["services"].get(parts[1])
        if svc is None:
            raise not_found(f"serviceName = {parts[1]}")
        rest = parts[2:]
        if rest == ["vmEncryption"] and method == "GET":
            return 200, {"state": svc["state"]}
        if rest == ["vmEncryption", "kms"] and method == "GET":
            return 200, sorted(svc["kms"])
        if rest == ["vmEncryption", "kms"] and method == "POST":
            b = self.json_body(raw)
            try:
                ipaddress.IPv4Address(b.get("ip", ""))
            except ValueError:
                raise bad_request("Invalid parameter ip: not an ipv4")
            if not isinstance(b.get("sslThumbprint"), str) or \
                    not THUMB.match(b["sslThumbprint"]):
                raise bad_request("Invalid parameter sslThumbprint")
            if any(e["ip"] == b["ip"] for e in svc["kms"].values()):
                raise Reply(409, {"class": "Client::Conflict::AlreadyExists",
                                  "message": "A KMS with this ip already exists"})
            return 200, self.new_task(parts[1], "addVmEncryptionKms",
                                      ("add", b["ip"], b["sslThumbprint"],
                                       b.get("description", "")))
        if len(rest) >= 3 and rest[:2] == ["vmEncryption", "kms"]:
            try:
                e = svc["kms"][int(rest[2])]
            except (ValueError, KeyError):
                raise not_found(f"kmsId = {rest[2]}")
            if len(rest) == 3 and method == "GET":
                return 200, e
            if rest[3:] == ["changeProperties"] and method == "POST":
                b = self.json_body(raw)
                if not isinstance(b.get("sslThumbprint"), str) or \
                        not THUMB.match(b["sslThumbprint"]) or "ip" in b:
                    raise bad_request("Invalid parameter sslThumbprint")
                return 200, self.new_task(parts[1], "updateVmEncryptionKms",
                                          ("update", e["kmsId"], b["sslThumbprint"],
                                           b.get("description")))
        if len(rest) == 2 and rest[0] == "task" and method == "GET":
            t = STATE["tasks"].get((parts[1], rest[1]))
            if t is None:
                raise not_found(f"taskId = {rest[1]}")
            return 200, self.advance(parts[1], t)
        raise not_found("path")

    def okms(self, method, path, raw, rec):
        """API v2, signed as v1 (okms-facts §2); okmsfake.py answers."""
        self.check_auth(method, path, raw, rec, signed=True)
        u = urllib.parse.urlsplit(path)
        for f in STATE["faults"]:
            if f["count"] > 0 and f["method"] == method and u.path.startswith(f["path"]):
                f["count"] -= 1
                raise Reply(f["status"], {"class": "Server::InternalServerError",
                                          "message": "Internal server error"})
        try:
            return 200, OKMS[0].route(method, u.path, urllib.parse.parse_qs(u.query), raw,
                                      self.headers)
        except okmsfake.ApiError as e:
            raise Reply(e.status, e.body)

    def json_body(self, raw):
        try:
            b = json.loads(raw)
        except ValueError:
            raise bad_request("Invalid JSON in the request body")
        if not isinstance(b, dict):
            raise bad_request("Invalid JSON in the request body")
        return b

    def new_task(self, svc, name, op):
        tid = STATE["next_task"]
        STATE["next_task"] += 1
        t = {"taskId": tid, "name": name, "state": STATE["task_script"][0], "progress": 0,
             "type": "generic", "description": "", "executionDate":
             time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
             "_step": 0, "_op": op}
        STATE["tasks"][(svc, str(tid))] = t
        return {k: v for k, v in t.items() if not k.startswith("_")}

    def advance(self, svc, t):
        """Each read moves the task one step along the script."""
        script = STATE["task_script"]
        if t["state"] not in ("done", "error", "canceled"):
            t["_step"] = min(t["_step"] + 1, len(script) - 1)
            t["state"] = script[t["_step"]]
            t["progress"] = 100 * t["_step"] // (len(script) - 1)
            if t["state"] == "error":
                t["description"] = "KMS connection check failed: certificate thumbprint " \
                                   "mismatch"
            if t["state"] == "done":
                self.apply(svc, t["_op"])
        return {k: v for k, v in t.items() if not k.startswith("_")}

    def apply(self, svc, op):
        s = STATE["services"][svc]
        if op[0] == "add":
            kid = STATE["next_kms"]
            STATE["next_kms"] += 1
            s["kms"][kid] = {"kmsId": kid, "ip": op[1], "sslThumbprint": op[2],
                             "description": op[3], "kmsTcpPort": 5696,
                             "state": "delivered"}
            s["state"] = "enabled"      # whether OVH flips it: UNCONFIRMED
        else:
            e = s["kms"][op[1]]
            e["sslThumbprint"] = op[2]
            if op[3] is not None:
                e["description"] = op[3]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    OKMS[0] = okmsfake.Okms()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
