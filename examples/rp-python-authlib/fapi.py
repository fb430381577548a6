#!/usr/bin/env python3
"""A FAPI 2.0 relying party on eid with Authlib and joserfc, as a bank would write one: the
authorization request pushed (RFC 9126), the client authenticated with private_key_jwt (Authlib's
RFC 7523 signer, ES256, addressed to the issuer), tokens bound to a DPoP key (RFC 9449, with
eid's nonces), PKCE, RFC 9207 `iss` checked, the ID token verified, userinfo called with the DPoP
scheme. Authlib has no DPoP or PAR client, so those two are written here, with joserfc.

    pip install -r requirements.txt
    eid-server client add --name Bank --redirect-uri http://localhost:3004/callback \\
        --profile fapi2 --auth-method private_key_jwt --jwks public.json --id-token-alg ES256
    python3 fapi.py --issuer=http://localhost:8080 --client-id=... --key=private-jwk.json --port=3004

then open http://localhost:3004/ and "Log in with eid". `--key` is the client's private key as
a JWK (EC P-256); its public half is the one registered.
"""

import argparse
import hashlib
import json
import sys
import threading
import time
import urllib.parse

import requests
from authlib.common.encoding import urlsafe_b64encode
from authlib.common.security import generate_token
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet

from app import serve  # the same little web server as the plain example

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data):
    return urlsafe_b64encode(data).decode().rstrip("=")


class IssuerAssertion(PrivateKeyJWT):
    """private_key_jwt as FAPI 2.0 wants it: ES256, `aud` the issuer (a string), short-lived."""

    alg = "ES256"

    def __init__(self, issuer):
        super().__init__(token_endpoint=issuer, alg="ES256")
        self.issuer = issuer

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret, client_id=auth.client_id, token_endpoint=self.issuer,
            alg="ES256", expires_in=60,
        )


class Dpop:
    """The client's DPoP key, its proofs, and the last nonce eid gave (RFC 9449 §8)."""

    def __init__(self):
        self.key = ECKey.generate_key("P-256")
        public = self.key.as_dict(private=False)
        self.jwk = {k: public[k] for k in ("kty", "crv", "x", "y")}
        self.nonce = None
        self.lock = threading.Lock()

    def proof(self, method, url, access_token=None):
        claims = {"jti": generate_token(24), "htm": method, "htu": url, "iat": int(time.time())}
        with self.lock:
            if self.nonce:
                claims["nonce"] = self.nonce
        if access_token:
            claims["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}
        return jws.serialize_compact(header, json.dumps(claims), self.key)

    def remember(self, response, *args, **kwargs):
        """A requests hook: keeps the nonce of every answer."""
        nonce = response.headers.get("DPoP-Nonce")
        if nonce:
            with self.lock:
                self.nonce = nonce
        return response

    @staticmethod
    def asks_nonce(response):
        if response.status_code == 401:
            return 'error="use_dpop_nonce"' in response.headers.get("WWW-Authenticate", "")
        if response.status_code == 400:
            try:
                return response.json().get("error") == "use_dpop_nonce"
            except ValueError:
                return False
        return False


class FapiRelyingParty:
    def __init__(self, issuer, client_id, key, redirect_uri):
        self.metadata = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
        if self.metadata["issuer"] != issuer:
            raise SystemExit(f"discovery names another issuer: {self.metadata['issuer']}")
        if "ES256" not in self.metadata.get("dpop_signing_alg_values_supported", []):
            raise SystemExit("the provider does not take ES256 DPoP proofs")
        self.keys = KeySet.import_key_set(requests.get(self.metadata["jwks_uri"], timeout=10).json())
        self.issuer, self.client_id, self.key, self.redirect_uri = issuer, client_id, key, redirect_uri
        self.dpop = Dpop()
        self.pending = {}  # state -> (nonce, PKCE verifier)
        self.lock = threading.Lock()

    def session(self):
        session = OAuth2Session(
            self.client_id, self.key, token_endpoint_auth_method=IssuerAssertion(self.issuer),
            redirect_uri=self.redirect_uri,
        )
        session.hooks["response"].append(self.dpop.remember)
        return session

    def with_nonce_retry(self, send):
        """Sends once, and again with eid's nonce if it asks for one."""
        response = send()
        if Dpop.asks_nonce(response):
            response = send()
        return response

    def login_url(self):
        verifier, nonce, state = generate_token(48), generate_token(24), generate_token(24)
        form = {
            "response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
            "scope": "openid profile", "state": state, "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
            "client_assertion_type": JWT_BEARER,
            # eid checks the proof first: the same assertion serves the retry with a nonce.
            "client_assertion": private_key_jwt_sign(
                self.key, client_id=self.client_id, token_endpoint=self.issuer, alg="ES256", expires_in=60
            ),
        }
        par = self.metadata["pushed_authorization_request_endpoint"]
        session = self.session()
        response = self.with_nonce_retry(
            lambda: session.post(
                par, data=form, headers={"DPoP": self.dpop.proof("POST", par)}, timeout=10, withhold_token=True
            )
        )
        if response.status_code != 201:
            raise ValueError(f"PAR answered {response.status_code}: {response.text}")
        with self.lock:
            self.pending[state] = (nonce, verifier)
        query = urllib.parse.urlencode({"client_id": self.client_id, "request_uri": response.json()["request_uri"]})
        return f"{self.metadata['authorization_endpoint']}?{query}"

    def callback(self, url):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
        if "error" in query:
            return {"error": query["error"][0], "error_description": query.get("error_description", [""])[0]}
        state = query["state"][0]
        with self.lock:
            nonce, verifier = self.pending.pop(state)
        # RFC 9207: the response names its issuer.
        if query.get("iss", [None])[0] != self.issuer:
            raise ValueError("the authorization response's iss is not the issuer")
        token_endpoint = self.metadata["token_endpoint"]
        session = self.session()
        for attempt in range(2):
            try:
                token = session.fetch_token(
                    token_endpoint, grant_type="authorization_code", code=query["code"][0],
                    code_verifier=verifier, headers={"DPoP": self.dpop.proof("POST", token_endpoint)},
                )
                break
            except Exception as e:  # Authlib raises OAuthError; the hook kept the nonce
                if attempt == 0 and getattr(e, "error", None) == "use_dpop_nonce":
                    continue
                raise
        if token["token_type"].lower() != "dpop":
            raise ValueError(f"the token is not DPoP-bound: {token['token_type']}")
        id_token = jwt.decode(token["id_token"], self.keys, algorithms=["ES256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(id_token.claims)
        access = token["access_token"]
        userinfo_endpoint = self.metadata["userinfo_endpoint"]
        answer = self.with_nonce_retry(
            lambda: session.get(
                userinfo_endpoint,
                headers={"Authorization": f"DPoP {access}",
                         "DPoP": self.dpop.proof("GET", userinfo_endpoint, access)},
                timeout=10, withhold_token=True,
            )
        )
        answer.raise_for_status()
        userinfo = answer.json()
        if userinfo.get("sub") != id_token.claims["sub"]:
            raise ValueError("userinfo is about another subject")
        return {
            "library": "authlib",
            "profile": "fapi2",
            "token_type": token["token_type"],
            "alg": id_token.header["alg"],
            "sub": id_token.claims["sub"],
            "acr": id_token.claims.get("acr"),
            "amr": id_token.claims.get("amr"),
            "userinfo": userinfo,
        }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--issuer", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--key", required=True, help="the client's private key, a JWK (EC P-256)")
    p.add_argument("--port", type=int, default=3004)
    a = p.parse_args()
    with open(a.key) as f:
        key = ECKey.import_key(json.load(f))
    rp = FapiRelyingParty(a.issuer.rstrip("/"), a.client_id, key, f"http://localhost:{a.port}/callback")
    serve(rp, a.port)


if __name__ == "__main__":
    sys.exit(main())
