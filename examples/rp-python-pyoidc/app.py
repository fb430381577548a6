#!/usr/bin/env python3
"""A relying party on eid with pyoidc (the `oic` package): discovery, the authorization code
flow with PKCE, the token request (client_secret_basic), the ID token as pyoidc verifies it
(signature with the provider's keys, iss, aud, expiry) and its nonce, userinfo as pyoidc asks
for it by default (POST, the token in the form body). Library defaults throughout.

    pip install -r requirements.txt
    python3 app.py --issuer http://localhost:8080 --client-id=... --client-secret=... --port 3002
"""

import argparse
import html
import http.server
import json
import sys
import threading
import urllib.parse

from oic import rndstr
from oic.oic import Client
from oic.oic.message import AuthorizationResponse, RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD


class RelyingParty:
    def __init__(self, issuer, client_id, client_secret, redirect_uri):
        self.client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
        self.client.provider_config(issuer)
        self.client.store_registration_info(
            RegistrationResponse(client_id=client_id, client_secret=client_secret, redirect_uris=[redirect_uri])
        )
        self.redirect_uri = redirect_uri
        self.pending = {}  # state -> (nonce, PKCE verifier)
        self.lock = threading.Lock()

    def login_url(self):
        state, nonce = rndstr(32), rndstr(32)
        args = {
            "client_id": self.client.client_id,
            "response_type": "code",
            "scope": ["openid", "profile"],
            "nonce": nonce,
            "redirect_uri": self.redirect_uri,
            "state": state,
        }
        challenge, verifier = self.client.add_code_challenge()
        args.update(challenge)
        with self.lock:
            request = self.client.construct_AuthorizationRequest(request_args=args)
            self.pending[state] = (nonce, verifier)
        return request.request(self.client.authorization_endpoint)

    def callback(self, query):
        with self.lock:
            response = self.client.parse_response(AuthorizationResponse, info=query, sformat="urlencoded")
        if "error" in response:
            return {"error": response["error"], "error_description": response.get("error_description", "")}
        state = response["state"]
        with self.lock:
            nonce, verifier = self.pending.pop(state)
            tokens = self.client.do_access_token_request(
                state=state,
                request_args={"code": response["code"], "redirect_uri": self.redirect_uri, "code_verifier": verifier},
                authn_method="client_secret_basic",
            )
            id_token = tokens["id_token"]
            if id_token["nonce"] != nonce:
                raise ValueError("the ID token's nonce is not this login's")
            userinfo = self.client.do_user_info_request(state=state)
        if userinfo["sub"] != id_token["sub"]:
            raise ValueError("userinfo is about another subject")
        return {
            "library": "pyoidc",
            "sub": id_token["sub"],
            "acr": id_token.get("acr"),
            "amr": id_token.get("amr"),
            "userinfo": userinfo.to_dict(),
        }


def serve(rp, port):
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
            url = urllib.parse.urlparse(self.path)
            if url.path == "/":
                self.send(200, '<p><a href="/login">Log in with eid</a></p>')
            elif url.path == "/login":
                self.send(302, "", location=rp.login_url())
            elif url.path == "/callback":
                try:
                    result = rp.callback(url.query)
                    self.send(200, json.dumps(result, ensure_ascii=False), "application/json")
                except Exception as e:  # shown to the person, not hidden
                    self.send(400, f"<p>Login failed: {html.escape(repr(e))}</p>")
            else:
                self.send(404, "not found")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on http://localhost:{port}", flush=True)
    server.serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--issuer", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--port", type=int, default=3002)
    a = p.parse_args()
    rp = RelyingParty(a.issuer.rstrip("/"), a.client_id, a.client_secret, f"http://localhost:{a.port}/callback")
    serve(rp, a.port)


if __name__ == "__main__":
    sys.exit(main())
