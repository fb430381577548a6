#!/usr/bin/env python3
"""A relying party on eid with Authlib (and joserfc for the ID token), as a sandbox participant
would write one: discovery, the authorization code flow with PKCE, the ID token checked
(signature with the provider's JWKS, iss, aud, exp, nonce), RFC 9207 `iss` on the response,
userinfo with the bearer token. Library defaults throughout (client_secret_basic, RS256).

    pip install -r requirements.txt
    python3 app.py --issuer http://localhost:8080 --client-id=... --client-secret=... --port 3001

then open http://localhost:3001/ and "Log in with eid". The callback page shows what eid said.
"""

import argparse
import html
import http.server
import json
import sys
import threading
import urllib.parse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet


class RelyingParty:
    def __init__(self, issuer, client_id, client_secret, redirect_uri):
        self.metadata = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
        if self.metadata["issuer"] != issuer:
            raise SystemExit(f"discovery names another issuer: {self.metadata['issuer']}")
        self.keys = KeySet.import_key_set(requests.get(self.metadata["jwks_uri"], timeout=10).json())
        self.client_id, self.client_secret, self.redirect_uri = client_id, client_secret, redirect_uri
        self.pending = {}  # state -> (nonce, PKCE verifier)
        self.lock = threading.Lock()

    def session(self):
        return OAuth2Session(
            self.client_id,
            self.client_secret,
            scope="openid profile",
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
        )

    def login_url(self):
        verifier, nonce = generate_token(48), generate_token(24)
        url, state = self.session().create_authorization_url(
            self.metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        with self.lock:
            self.pending[state] = (nonce, verifier)
        return url

    def callback(self, url):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
        if "error" in query:
            return {"error": query["error"][0], "error_description": query.get("error_description", [""])[0]}
        state = query["state"][0]
        with self.lock:
            nonce, verifier = self.pending.pop(state)
        # RFC 9207: the response names its issuer.
        if query.get("iss", [None])[0] != self.metadata["issuer"]:
            raise ValueError("the authorization response's iss is not the issuer")
        session = self.session()
        token = session.fetch_token(
            self.metadata["token_endpoint"],
            authorization_response=url,
            state=state,
            code_verifier=verifier,
        )
        id_token = jwt.decode(token["id_token"], self.keys)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.metadata["issuer"]},
            aud={"essential": True, "value": self.client_id},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(id_token.claims)
        userinfo = session.get(self.metadata["userinfo_endpoint"], timeout=10).json()
        if userinfo.get("sub") != id_token.claims["sub"]:
            raise ValueError("userinfo is about another subject")
        return {
            "library": "authlib",
            "alg": id_token.header["alg"],
            "sub": id_token.claims["sub"],
            "acr": id_token.claims.get("acr"),
            "amr": id_token.claims.get("amr"),
            "userinfo": userinfo,
        }


def serve(rp, port):
    """Serves "Log in with eid" for `rp` (anything with login_url() and callback(url)) on the
    loopback at `port`; fapi.py serves its FAPI 2.0 client with it too."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send(self, status, body, content_type="text/html; charset=utf-8", location=None):
            data = body.encode()
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path = urllib.parse.urlparse(self.path).path
            try:
                if path == "/":
                    self.send(200, '<p><a href="/login">Log in with eid</a></p>')
                elif path == "/login":
                    self.send(302, "", location=rp.login_url())
                elif path == "/callback":
                    result = rp.callback(f"http://localhost:{port}{self.path}")
                    self.send(200, json.dumps(result, ensure_ascii=False), "application/json")
                else:
                    self.send(404, "not found")
            except Exception as e:  # shown to the person, not hidden
                self.send(400, f"<p>Login failed: {html.escape(repr(e))}</p>")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on http://localhost:{port}", flush=True)
    server.serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--issuer", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--port", type=int, default=3001)
    a = p.parse_args()
    rp = RelyingParty(a.issuer.rstrip("/"), a.client_id, a.client_secret, f"http://localhost:{a.port}/callback")
    serve(rp, a.port)


if __name__ == "__main__":
    sys.exit(main())
