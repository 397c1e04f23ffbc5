#!/usr/bin/env python3
"""A token server for the tests (tests/common/token.rs starts it): the Docker token protocol that
Docker Hub, GHCR, Quay and Harbor speak, in front of a real `docker-registry` configured with
`auth: token`.

    token_server.py CONFIG.json

CONFIG.json: {"service": ..., "issuer": ..., "cert": PATH, "log": PATH, "anonymous": {REPO: [ACTIONS]},
              "users": {NAME: {"password": ..., "refresh_token": ..., "access": {REPO: [ACTIONS]},
                               "exp_secs": N, "expires_in": N, "short_tokens": N}}}

At start it makes an ECDSA P-256 key and a self-signed certificate, writes the certificate (PEM) to
`cert` (the registry's `rootcertbundle`), binds 127.0.0.1 on a free port and prints `PORT <n>` on
stdout. It answers
  GET  /token?service=..&scope=..(&scope=..)   Basic credentials optional (anonymous gets `anonymous`)
  POST /token  form grant_type=password (username, password) or refresh_token (refresh_token),
               scope (space-separated), service, client_id
with {"token", "access_token", "expires_in", "issued_at"(, "refresh_token")}: an ES256 JWT whose
header carries the certificate in `x5c`, whose `access` holds only the requested actions the user is
allowed per repository, and whose `exp` is `exp_secs` after now (default 300; may be negative, as the
registry accepts a token up to 60 s past its `exp`) while the answer says `expires_in` (default:
`exp_secs`), so a test can make a token die before its holder expects. With `short_tokens`, only
that many tokens get `exp_secs`; later ones live 300 s.
Wrong credentials get 401. Every request is appended to `log` as one JSON line (never a password).
"""
import base64
import datetime
import json
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

CONFIG = json.load(open(sys.argv[1]))
USERS = CONFIG["users"]
LOG_LOCK = threading.Lock()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_key_and_cert():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "slim-image test token signer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    with open(CONFIG["cert"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key, base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


KEY, CERT_DER_B64 = make_key_and_cert()


def sign_jwt(claims):
    header = {"alg": "ES256", "typ": "JWT", "x5c": [CERT_DER_B64]}
    signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    r, s = decode_dss_signature(KEY.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    # JWS ES256 wants the raw 32-byte r and s, not DER.
    return signing_input.decode() + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def parse_scopes(values):
    """`repository:NAME:a,b` strings (each value may hold several, space-separated) -> [(type, name, [actions])]."""
    out = []
    for value in values:
        for scope in value.split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind and name:
                out.append((kind, name, [a for a in actions.split(",") if a]))
    return out


def grant(user, scopes):
    allowed = USERS[user]["access"] if user else CONFIG.get("anonymous", {})
    access = []
    for kind, name, actions in scopes:
        ok = [a for a in actions if kind == "repository" and a in allowed.get(name, [])]
        if ok:
            access.append({"type": kind, "name": name, "actions": ok})
    return access


def basic_user(header):
    """(user, ok) from an `Authorization: Basic` header; (None, True) when there is none."""
    if not header:
        return None, True
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None, False
    try:
        user, _, password = base64.b64decode(value).decode().partition(":")
    except Exception:
        return None, False
    return user, user in USERS and USERS[user]["password"] == password


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def log(self, entry):
        with LOG_LOCK, open(CONFIG["log"], "a") as f:
            f.write(json.dumps(entry) + "\n")

    def answer(self, status, body, entry):
        entry["status"] = status
        self.log(entry)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="slim-test-token"')
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        user, ok = basic_user(self.headers.get("Authorization"))
        entry = {"method": "GET", "path": url.path, "user": user, "service": query.get("service", [None])[0],
                 "scopes": query.get("scope", [])}
        if url.path != "/token":
            return self.answer(404, {"error": "not found"}, entry)
        if not ok:
            return self.answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}, entry)
        self.issue(user, entry["scopes"], query.get("offline_token") == ["true"], entry)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        one = lambda k: form.get(k, [None])[0]
        grant_type = one("grant_type")
        entry = {"method": "POST", "path": url.path, "grant_type": grant_type, "service": one("service"),
                 "client_id": one("client_id"), "scopes": form.get("scope", []),
                 "refresh_token": one("refresh_token"), "has_password": "password" in form,
                 "authorization": self.headers.get("Authorization") is not None,
                 "content_type": self.headers.get("Content-Type")}
        if url.path != "/token":
            return self.answer(404, {"error": "not found"}, entry)
        user = None
        if grant_type == "password":
            name = one("username")
            if name in USERS and USERS[name]["password"] == one("password"):
                user = name
        elif grant_type == "refresh_token":
            user = next((n for n, u in USERS.items()
                         if u.get("refresh_token") and u["refresh_token"] == one("refresh_token")), None)
        entry["user"] = user
        if user is None:
            return self.answer(401, {"error": "invalid_grant"}, entry)
        self.issue(user, entry["scopes"], grant_type == "password", entry)

    def issue(self, user, scope_values, with_refresh, entry):
        access = grant(user, parse_scopes(scope_values))
        settings = USERS.get(user, {}) if user else {}
        secs = settings.get("exp_secs", 300)
        with LOG_LOCK:
            settings["issued"] = settings.get("issued", 0) + 1
            if settings["issued"] > settings.get("short_tokens", settings["issued"]):
                secs = 300  # the first `short_tokens` tokens get exp_secs, later ones live long
        now = int(time.time())
        claims = {"iss": CONFIG["issuer"], "sub": user or "", "aud": CONFIG["service"], "exp": now + secs,
                  "nbf": now - 1, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        token = sign_jwt(claims)
        body = {"token": token, "access_token": token, "expires_in": settings.get("expires_in", max(secs, 1)),
                "issued_at": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat()}
        if with_refresh and settings.get("refresh_token"):
            body["refresh_token"] = settings["refresh_token"]
        entry["granted"] = access
        self.answer(200, body, entry)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
