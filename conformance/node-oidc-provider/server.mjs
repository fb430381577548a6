// node-oidc-provider (the npm package `oidc-provider`, OpenID Certified) configured as a plain
// OpenID Connect Basic provider, so that eid's conformance suite can be run against a provider
// that is not eid (conformance/node-oidc-provider/run.sh). Its built-in development login
// pages (any login; a "Continue" consent page) are what the suite's `form` driver fills in.
//
//   PORT=4100 CLIENTS_JSON='[...]' node server.mjs
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

const provider = new Provider(issuer, {
  clients,
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
