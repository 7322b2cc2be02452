"""A replay of recorded vCenter traffic, over HTTPS on loopback.

It answers each request with the next recorded answer to the same method
(or file, for GETs), taken from interactions recorded against real vCenters
(realvc.py); it computes nothing and knows nothing of vSphere.  A request
with no recorded answer left gets HTTP 500 and is listed in `unexpected`.
Every request is kept (method, path, headers, body) so a test can check
what the client under test sent: its SOAPAction, its cookies, its version
strings.  The recorded status and the Content-Type and Set-Cookie headers
are sent back as recorded."""
import collections
import http.server
import ssl
import threading


class Replay:
    def __init__(self, crt, key):
        self.answers = collections.defaultdict(collections.deque)
        self.requests, self.unexpected = [], []
        self.lock = threading.Lock()
        replay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, key, body):
                with replay.lock:
                    replay.requests.append({"method": key, "path": self.path,
                                            "headers": dict(self.headers.items()),
                                            "body": body})
                    q = replay.answers.get(key)
                    it = q.popleft() if q else None
                    if it is None:
                        replay.unexpected.append(key)
                if it is None:
                    data = f"replay: no recorded answer left for {key}".encode()
                    self.send_response(500)
                    self.send_header("Content-Type", "text/plain")
                else:
                    data = it.resp_body.encode()
                    self.send_response(it.status or 200)
                    for h in ("content-type", "set-cookie"):
                        for v in it.resp_headers.get(h, []):
                            self.send_header(h, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._answer("GET " + self.path.rsplit("/", 1)[-1], "")

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                import re
                m = re.search(r"<(?:[\w.-]+:)?Body[^>]*>\s*<(?:[\w.-]+:)?(\w+)", body)
                self._answer(m.group(1) if m else "?", body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}/sdk"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, interactions, only=None):
        """Queues recorded answers, by method, in recorded order."""
        for it in interactions:
            if only is None or it.method in only:
                self.answers[it.method].append(it)
        return self

    def sent(self, method):
        return [r for r in self.requests if r["method"] == method]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
