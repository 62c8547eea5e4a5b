// A small OpenID provider for doorman's end-to-end tests, built on oidc-provider 8.x.
//
//   node provider.mjs --port 0 --client-id ID --client-secret SECRET \
//        --redirect-uri http://127.0.0.1:PORT/auth/callback [--redirect-uri ...] \
//        [--conform-id-token-claims true|false] [--ready-file PATH] [--people default|corp|partner]
//
// Every flag can also be given as an environment variable: E2E_PROVIDER_PORT, E2E_CLIENT_ID,
// E2E_CLIENT_SECRET, E2E_REDIRECT_URIS (space-separated), E2E_CONFORM_ID_TOKEN_CLAIMS, E2E_READY_FILE.
//
// - Listens on 127.0.0.1 (port 0 = a free port); the issuer is http://127.0.0.1:<port>, plus
//   --issuer-suffix (e.g. "/", the trailing slash Auth0's issuers have).
// - One confidential client (client_secret_basic), authorization code flow, PKCE (S256) required.
// - The provider's own devInteractions pages: a login form (any login, password ignored) and a
//   consent page; "[ Cancel ]" on either page aborts with error=access_denied.
// - Accounts: the login typed is the account id. "ada" and "grace" are known people; any other
//   login gets claims made from it. Every account has email, email_verified, name and an https picture.
//   --people picks whose directory this is: default (@example.com), corp (@corp.example.com: Ada
//   Lovelace and Grace Hopper of Corp) or partner (@partner.example.org: "ada" is Ada King, another
//   person), so two providers started with different --people never share a person.
// - --conform-id-token-claims true: profile/email claims only from userinfo (oidc-provider's default);
//   false: those claims are in the ID token too.
// - Groups: the `groups` scope gives a `groups` claim (ada: engineering, sre; grace: platform;
//   anyone else: everyone).
// - Sessions end the standard ways, with oidc-provider's own features: RP-Initiated Logout
//   (its "sign out?" page at /session/end; every doorman's PUBLIC_URL/auth/signed-out is a
//   registered post-logout redirect URI) and Back-Channel Logout (a logout token with `sid` is
//   posted to PUBLIC_URL/auth/backchannel-logout of the client whenever a provider session ends).
// - Refresh tokens for every code (the refresh_token grant); POST /test/disable?account=ID
//   disables an account, so its refresh tokens fail with invalid_grant from then on (as an
//   account disabled by an administrator would).
// - Cookies are SameSite=Lax, since Chromium drops SameSite=None cookies without Secure on http.
// - When listening, prints "provider ready <issuer>" and writes the issuer to --ready-file.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.E2E_PROVIDER_PORT ?? '0' },
    'client-id': { type: 'string', default: process.env.E2E_CLIENT_ID ?? 'doorman-e2e' },
    'client-secret': { type: 'string', default: process.env.E2E_CLIENT_SECRET },
    'redirect-uri': {
      type: 'string',
      multiple: true,
      default: (process.env.E2E_REDIRECT_URIS ?? '').split(/\s+/).filter(Boolean),
    },
    'conform-id-token-claims': {
      type: 'string',
      default: process.env.E2E_CONFORM_ID_TOKEN_CLAIMS ?? 'false',
    },
    'ready-file': { type: 'string', default: process.env.E2E_READY_FILE },
    // Appended to the issuer: "/" gives an Auth0-style issuer with a trailing slash.
    'issuer-suffix': { type: 'string', default: process.env.E2E_ISSUER_SUFFIX ?? '' },
    // Whose people: default, corp or partner (see DIRECTORIES).
    people: { type: 'string', default: process.env.E2E_PEOPLE ?? 'default' },
  },
});

function fail(message) {
  console.error(`provider: ${message}`);
  process.exit(2);
}

if (!args['client-secret']) fail('--client-secret (or E2E_CLIENT_SECRET) is required');
if (args['redirect-uri'].length === 0) fail('at least one --redirect-uri (or E2E_REDIRECT_URIS) is required');
if (!['true', 'false'].includes(args['conform-id-token-claims'])) {
  fail('--conform-id-token-claims must be true or false');
}
const conformIdTokenClaims = args['conform-id-token-claims'] === 'true';

// Known people of each directory; any other login gets made-up claims (see claimsFor).
const DIRECTORIES = {
  default: {
    domain: 'example.com',
    people: {
      ada: {
        name: 'Ada Lovelace',
        email: 'ada@example.com',
        email_verified: true,
        picture: 'https://avatars.example.com/ada.png',
        groups: ['engineering', 'sre'],
      },
      grace: {
        name: 'Grace Hopper',
        email: 'grace@example.com',
        email_verified: true,
        picture: 'https://avatars.example.com/grace.png',
        groups: ['platform'],
      },
    },
  },
  corp: {
    domain: 'corp.example.com',
    people: {
      ada: {
        name: 'Ada Lovelace',
        email: 'ada@corp.example.com',
        email_verified: true,
        picture: 'https://avatars.example.com/ada.png',
        groups: ['ops'],
      },
      grace: {
        name: 'Grace Hopper',
        email: 'grace@corp.example.com',
        email_verified: true,
        picture: 'https://avatars.example.com/grace.png',
        groups: ['platform'],
      },
    },
  },
  partner: {
    domain: 'partner.example.org',
    people: {
      ada: {
        name: 'Ada King',
        email: 'ada@partner.example.org',
        email_verified: true,
        picture: 'https://avatars.example.com/ada-king.png',
        groups: ['partners'],
      },
    },
  },
};
const directory = DIRECTORIES[args.people];
if (!directory) fail(`--people must be one of ${Object.keys(DIRECTORIES).join(', ')}`);
const PEOPLE = directory.people;

function claimsFor(accountId) {
  const known = PEOPLE[accountId];
  if (known) return known;
  const slug = accountId.toLowerCase().replace(/[^a-z0-9._-]+/g, '-') || 'someone';
  return {
    name: accountId.charAt(0).toUpperCase() + accountId.slice(1),
    email: `${slug}@${directory.domain}`,
    email_verified: true,
    picture: `https://avatars.example.com/${slug}.png`,
    groups: ['everyone'],
  };
}

// A fresh signing key per start (no development keys, no warning about them).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'e2e-rs256', alg: 'RS256', use: 'sig' };

// Each redirect URI is a doorman's PUBLIC_URL + /auth/callback: its sign-out pages are beside it.
const doormen = args['redirect-uri'].map((uri) => new URL(uri).origin);

// Accounts disabled by POST /test/disable?account=ID.
const disabled = new Set();

const configuration = {
  clients: [
    {
      client_id: args['client-id'],
      client_secret: args['client-secret'],
      redirect_uris: args['redirect-uri'],
      post_logout_redirect_uris: doormen.map((origin) => `${origin}/auth/signed-out`),
      backchannel_logout_uri: `${doormen[0]}/auth/backchannel-logout`,
      backchannel_logout_session_required: true,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  clientAuthMethods: ['client_secret_basic'],
  pkce: { methods: ['S256'], required: () => true },
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    backchannelLogout: { enabled: true },
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'picture'],
    groups: ['groups'],
  },
  conformIdTokenClaims,
  cookies: {
    keys: ['doorman-e2e-cookie-key-not-a-secret'],
    long: { sameSite: 'lax' },
    short: { sameSite: 'lax' },
  },
  jwks: { keys: [signingKey] },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  async findAccount(ctx, accountId) {
    if (disabled.has(accountId)) return undefined;
    return {
      accountId,
      async claims() {
        return { sub: accountId, ...claimsFor(accountId) };
      },
    };
  },
  // Quiet, short-lived grants: nothing here outlives a test run.
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    Grant: 600,
    IdToken: 600,
    Interaction: 600,
    Session: 600,
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>provider error</title><h1>oops! something went wrong</h1>
<pre id="provider-error">${Object.entries(out)
      .map(([k, v]) => `${k}: ${String(v).replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`)}`)
      .join('\n')}</pre>`;
  },
};

const server = createServer();
server.listen(Number(args.port), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}${args['issuer-suffix']}`;
  const provider = new Provider(issuer, configuration);

  // Log every request and the provider's own errors, for the artefacts of a failed run.
  provider.use(async (ctx, next) => {
    const started = Date.now();
    await next();
    console.log(`${new Date().toISOString()} ${ctx.method} ${ctx.path} -> ${ctx.status} (${Date.now() - started} ms)`);
  });
  for (const event of [
    'server_error',
    'authorization.error',
    'grant.error',
    'userinfo.error',
    'interaction.ended',
    'end_session.success',
    'backchannel.success',
    'backchannel.error',
  ]) {
    provider.on(event, (...eventArgs) => {
      const err = eventArgs.find((a) => a instanceof Error);
      console.log(`${new Date().toISOString()} event ${event}${err ? `: ${err.name}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}` : ''}`);
    });
  }

  const callback = provider.callback();
  server.on('request', (req, res) => {
    const url = new URL(req.url, issuer);
    if (req.method === 'POST' && url.pathname === '/test/disable') {
      disabled.add(url.searchParams.get('account'));
      console.log(`${new Date().toISOString()} disabled account ${url.searchParams.get('account')}`);
      res.writeHead(204).end();
      return;
    }
    callback(req, res);
  });
  console.log(`provider ready ${issuer} (people=${args.people}, conformIdTokenClaims=${conformIdTokenClaims}, redirect_uris=${args['redirect-uri'].join(' ')})`);
  if (args['ready-file']) writeFileSync(args['ready-file'], `${issuer}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
