// A relying party on eid with openid-client (Node), as a sandbox participant would write one:
// discovery, the authorization code flow with PKCE, state and nonce, the ID token and RFC 9207
// `iss` checked by the library, userinfo. Library defaults (client_secret_post, the algorithms
// discovery advertises), except that plain http is allowed for a loopback issuer.
//
//     npm ci
//     node app.mjs --issuer http://localhost:8080 --client-id=... --client-secret=... --port 3003
//
// then open http://localhost:3003/ and "Log in with eid".

import * as http from 'node:http';
import { parseArgs } from 'node:util';
import * as client from 'openid-client';

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    port: { type: 'string', default: '3003' },
  },
});
if (!args.issuer || !args['client-id'] || !args['client-secret']) {
  console.error('usage: node app.mjs --issuer URL --client-id ID --client-secret SECRET [--port N]');
  process.exit(2);
}
const issuer = new URL(args.issuer);
const port = Number(args.port);
const redirectUri = `http://localhost:${port}/callback`;
// https is required, except on the loopback (development, tests).
const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
const config = await client.discovery(
  issuer,
  args['client-id'],
  args['client-secret'],
  undefined,
  loopback ? { execute: [client.allowInsecureRequests] } : undefined,
);
const pending = new Map(); // state -> { nonce, verifier }

async function loginUrl() {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  pending.set(state, { nonce, verifier });
  return client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
}

async function callback(url) {
  const state = url.searchParams.get('state');
  const login = pending.get(state);
  if (!login) throw new Error('unknown state');
  pending.delete(state);
  const tokens = await client.authorizationCodeGrant(config, url, {
    pkceCodeVerifier: login.verifier,
    expectedState: state,
    expectedNonce: login.nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  return { library: 'openid-client', sub: claims.sub, acr: claims.acr, amr: claims.amr, userinfo };
}

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, `http://localhost:${port}`);
    try {
      if (url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<p><a href="/login">Log in with eid</a></p>');
      } else if (url.pathname === '/login') {
        res.writeHead(302, { location: (await loginUrl()).href });
        res.end();
      } else if (url.pathname === '/callback') {
        const result = await callback(url);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(result));
      } else {
        res.writeHead(404);
        res.end('not found');
      }
    } catch (e) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`Login failed: ${e.message} ${e.error ?? ''} ${e.error_description ?? ''}`);
    }
  })
  .listen(port, '127.0.0.1', () => console.log(`listening on http://localhost:${port}`));
