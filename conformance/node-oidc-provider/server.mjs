// node-oidc-provider (the npm package `oidc-provider`, OpenID Certified) configured as a plain
// OpenID Connect Basic provider, or (FAPI=1) as a FAPI 2.0 Security Profile authorization server,
// so that eid's conformance suite can be run against a provider that is not eid
// (conformance/node-oidc-provider/run.sh). Its built-in development login pages (any login; a
// "Continue" consent page) are what the suite's `form` driver fills in.
//
//   PORT=4100 CLIENTS_JSON='[...]' node server.mjs
//
// FAPI=1 configures it the way its author configures it for FAPI 2.0 certification
// (certification/fapi in its repository): `features.fapi.profile` '2.0', pushed authorization
// requests required, DPoP (server nonces per DPOP_NONCE), `private_key_jwt` only, ES256 and
// PS256, response type `code`, PKCE required, clients with `dpop_bound_access_tokens`. Its
// choices, each allowed by the specifications:
//
//   DPOP_NONCE=off|offered|required   server-provided DPoP nonces (RFC 9449 §8, §9)
//   UNREGISTERED_REDIRECT_URIS=1      unregistered redirect URIs in authenticated pushed
//                                     requests (RFC 9126 §2.4)
//
// and two deliberate faults, for showing the suite catches them:
//
//   FAULT=par-optional                pushed requests not required (FAPI 2.0 §5.3.2.2 (2))
//   FAULT=bearer-tokens               tokens issued without a DPoP proof (FAPI 2.0 §5.3.2.1 (5))
import * as crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 4100);
const issuer = `http://localhost:${port}`;
const clients = JSON.parse(process.env.CLIENTS_JSON || '[]');

// Every person has the standard claims, so that the scope modules have something to check.
const claimsOf = (sub) => ({
  sub,
  name: 'Alice Liddell',
  given_name: 'Alice',
  family_name: 'Liddell',
  middle_name: 'Pleasance',
  nickname: 'Alice',
  preferred_username: 'alice',
  profile: 'https://example.com/alice',
  picture: 'https://example.com/alice.png',
  website: 'https://example.com',
  gender: 'female',
  birthdate: '1852-05-04',
  zoneinfo: 'Europe/London',
  locale: 'en-GB',
  updated_at: 1700000000,
  email: 'alice@example.com',
  email_verified: true,
  phone_number: '+44 20 7946 0000',
  phone_number_verified: false,
  address: { formatted: '1 Wonderland Way, Oxford', locality: 'Oxford', country: 'GB' },
});

const fapi = process.env.FAPI === '1';
const nonceMode = process.env.DPOP_NONCE || 'off';
const fault = process.env.FAULT || '';
if (!['off', 'offered', 'required'].includes(nonceMode)) throw new Error(`DPOP_NONCE=${nonceMode}`);
if (!['', 'par-optional', 'bearer-tokens'].includes(fault)) throw new Error(`FAULT=${fault}`);

// The provider's signing keys: ES256 and PS256 (FAPI 2.0 §5.4.1), made at start.
const signingKey = (type, options, alg) => ({
  ...crypto.generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  alg,
  use: 'sig',
  kid: alg,
});

const fapiConfiguration = fapi ? {
  clientDefaults: {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'private_key_jwt',
    id_token_signed_response_alg: 'ES256',
  },
  clientAuthMethods: ['private_key_jwt'],
  responseTypes: ['code'],
  jwks: {
    keys: [
      signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
      signingKey('rsa', { modulusLength: 2048 }, 'PS256'),
    ],
  },
  enabledJWA: {
    idTokenSigningAlgValues: ['ES256', 'PS256'],
    clientAuthSigningAlgValues: ['ES256', 'PS256'],
    dPoPSigningAlgValues: ['ES256', 'PS256'],
    requestObjectSigningAlgValues: ['ES256', 'PS256'],
  },
  pkce: { required: () => true },
} : {};

const fapiFeatures = fapi ? {
  fapi: { enabled: true, profile: '2.0' },
  claimsParameter: { enabled: true },
  pushedAuthorizationRequests: {
    enabled: true,
    requirePushedAuthorizationRequests: fault !== 'par-optional',
    allowUnregisteredRedirectUris: process.env.UNREGISTERED_REDIRECT_URIS === '1',
  },
  dPoP: {
    enabled: true,
    ...(nonceMode !== 'off' && { nonceSecret: crypto.randomBytes(32) }),
    requireNonce: () => nonceMode === 'required',
  },
} : {};

const provider = new Provider(issuer, {
  ...fapiConfiguration,
  clients: fapi
    ? clients.map((client) => ({ ...client, dpop_bound_access_tokens: fault !== 'bearer-tokens' }))
    : clients,
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username',
      'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at'],
    email: ['email', 'email_verified'],
    phone: ['phone_number', 'phone_number_verified'],
    address: ['address'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'phone', 'address'],
  async findAccount(_ctx, sub) {
    return { accountId: sub, async claims() { return claimsOf(sub); } };
  },
  features: {
    devInteractions: { enabled: true },
    // DYNAMIC=1: open dynamic registration and signed userinfo, to try the suite's
    // oidcc-dynamic modules (v9 offers no `token` response types, which a Dynamic OP must, so
    // its discovery module fails there; CI does not run this plan against it).
    registration: { enabled: process.env.DYNAMIC === '1' },
    jwtUserinfo: { enabled: process.env.DYNAMIC === '1' },
    ...fapiFeatures,
  },
  // Authorization requests by POST (OIDC Core §3.1.2.1) stay off, as in v9's defaults: they
  // need SameSite=None cookies, which need https. oidcc-ensure-post-request-succeeds warns.
  // Refresh tokens for offline_access, as OIDC Core §11 describes.
  async issueRefreshToken(_ctx, client, code) {
    return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
  },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => {
  console.log(`node-oidc-provider listening: ${issuer}`);
});
