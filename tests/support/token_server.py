"""A small Docker-registry token server (the `auth: token` protocol) for the test registry.

Run as its own process by the registry plugin: `python token_server.py CONFIG.json`. It prints
`READY <port>` once it listens. Rules:

* users from the config (`users: {name: {password, ttl}}`) get every action they ask for; their
  tokens live `ttl` seconds (a short-lived user lets tests see expiry without waiting);
* anonymous callers get `pull` on repositories under `public/` and nothing else;
* a wrong password is a 401 from this endpoint;
* tokens are RS256 JWTs with the signing certificate in `x5c` (what distribution 2.8 verifies
  against `rootcertbundle`).

`GET /stats` returns how many tokens were issued per user ("" = anonymous).
"""

from __future__ import annotations

import base64
import datetime
import json
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


class TokenHandler(BaseHTTPRequestHandler):
    server: TokenServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _reply(self, status: int, document: dict[str, Any] | None = None) -> None:
        body = json.dumps(document or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="aim-test-token"')
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/stats":
            with self.server.lock:
                self._reply(200, {"issued": dict(self.server.issued)})
            return
        if url.path == "/healthz":
            self._reply(200, {})
            return
        if url.path != "/token":
            self._reply(404, {"error": "not found"})
            return
        query = parse_qs(url.query)
        user = ""
        ttl = self.server.default_ttl
        header = self.headers.get("Authorization", "")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                self._reply(401, {"error": "unsupported authorization"})
                return
            try:
                name, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                self._reply(401, {"error": "bad authorization header"})
                return
            account = self.server.users.get(name)
            if account is None or account["password"] != password:
                self._reply(401, {"error": "invalid credentials"})
                return
            user = name
            ttl = int(account.get("ttl", ttl))
        access = []
        for scope in query.get("scope", []):
            for item in scope.split(" "):
                kind, _, rest = item.partition(":")
                name, _, actions = rest.rpartition(":")
                wanted = [a for a in actions.split(",") if a]
                if user:
                    granted = wanted
                elif kind == "repository" and name.startswith("public/"):
                    granted = [a for a in wanted if a == "pull"]
                else:
                    granted = []
                access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": self.server.issuer,
            "sub": user,
            "aud": query.get("service", [self.server.service])[0],
            "exp": now + ttl,
            "nbf": now - 5,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = jwt.encode(
            claims, self.server.signing_key, algorithm="RS256", headers={"x5c": [self.server.x5c]}
        )
        with self.server.lock:
            self.server.issued[user] = self.server.issued.get(user, 0) + 1
        issued_at = datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat().replace("+00:00", "Z")
        self._reply(200, {"token": token, "access_token": token, "expires_in": ttl, "issued_at": issued_at})


class TokenServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", int(config.get("port", 0))), TokenHandler)
        self.users: dict[str, dict[str, Any]] = config["users"]
        self.issuer: str = config["issuer"]
        self.service: str = config["service"]
        self.default_ttl = int(config.get("ttl", 300))
        self.signing_key = Path(config["signing_key"]).read_text()
        cert = x509.load_pem_x509_certificate(Path(config["signing_cert"]).read_bytes())
        self.x5c = base64.b64encode(cert.public_bytes(Encoding.DER)).decode()
        self.issued: dict[str, int] = {}
        self.lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(config["tls_cert"], config["tls_key"])
        self.socket = context.wrap_socket(self.socket, server_side=True)


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    server = TokenServer(config)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
