// A second, independent OpenID provider for doorman's end-to-end tests, built on a different
// implementation than provider.mjs: oauth2-mock-server 9.x (its own discovery, keys, /authorize,
// /token, /userinfo and /endsession).
//
//   node partner.mjs --port 0 --client-id ID --client-secret SECRET \
//        --redirect-uri http://127.0.0.1:PORT/auth/callback/partner [--redirect-uri ...] [--ready-file PATH]
//
// - Listens on 127.0.0.1 (port 0 = a free port); the issuer is http://127.0.0.1:<port>.
// - Its own RS256 key, generated at each start (never the one provider.mjs has).
// - oauth2-mock-server signs in whoever asks, accepts any client and any redirect URI and only
//   checks PKCE when a code_verifier comes. This wrapper makes it behave like a real provider
//   for one confidential client (each refusal is logged):
//     authorization: client_id and redirect_uri must be the registered ones, response_type=code,
//       PKCE S256 and a nonce are required; a login page (GET /login, the advertised
//       authorization_endpoint) asks who signs in, then hands over to the library's /authorize;
//     token: client_secret_basic with the registered id and secret (form-encoded, RFC 6749 2.3.1),
//       a code this server issued, used once, with the redirect_uri it was issued for and a
//       code_verifier (the library checks it against the challenge);
//     userinfo: only for an access token this server issued.
// - People: the login typed is the account id (sub). Its known people are NOT provider.mjs's:
//   "ada" here is Ada King at partner.example.org; any other login gets claims made from it, at
//   partner.example.org. The ID token carries email, email_verified, name and picture.
// - It does not advertise authorization_response_iss_parameter_supported (nor send iss), unlike
//   oidc-provider: doorman must then accept a callback without iss.
// - When listening, prints "partner ready <issuer>" and writes the issuer to --ready-file.
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'client-id': { type: 'string', default: 'doorman-partner' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
    'ready-file': { type: 'string' },
  },
});

function fail(message) {
  console.error(`partner: ${message}`);
  process.exit(2);
}
if (!args['client-secret']) fail('--client-secret is required');
if (args['redirect-uri'].length === 0) fail('at least one --redirect-uri is required');

const PEOPLE = {
  ada: {
    name: 'Ada King',
    email: 'ada@partner.example.org',
    email_verified: true,
    picture: 'https://avatars.example.com/ada-king.png',
  },
};
function claimsFor(login) {
  if (PEOPLE[login]) return PEOPLE[login];
  const slug = login.toLowerCase().replace(/[^a-z0-9._-]+/g, '-') || 'someone';
  return {
    name: `${login.charAt(0).toUpperCase()}${login.slice(1)} (partner)`,
    email: `${slug}@partner.example.org`,
    email_verified: true,
    picture: `https://avatars.example.com/${slug}.png`,
  };
}

const log = (line) => console.log(`${new Date().toISOString()} ${line}`);
const esc = (s) => String(s).replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
// application/x-www-form-urlencoded decoding (client_secret_basic's id and secret are encoded so).
const formDecode = (s) => decodeURIComponent(s.replace(/\+/g, ' '));

// The library's issuer (keys, token signing) and service (its endpoints), in a plain http server
// of our own so that every request is logged.
const oauthIssuer = new OAuth2Issuer();
await oauthIssuer.keys.generate('RS256');
const service = new OAuth2Service(oauthIssuer);

// code -> { login, redirectUri }, while unused; access token -> login.
const codes = new Map();
const accessTokens = new Map();

// Every request, for the artefacts (and for the suite: "POST /token" counts token requests).
const handler = service.requestHandler;
const requestHandler = (req, res) => {
  const started = Date.now();
  res.on('finish', () => log(`${req.method} ${new URL(req.url, 'http://x').pathname} -> ${res.statusCode} (${Date.now() - started} ms)`));
  handler(req, res);
};

function refuse(res, status, body) {
  log(`refused: ${JSON.stringify(body)}`);
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><title>partner error</title><h1>partner refused the request</h1><pre id="provider-error">${esc(JSON.stringify(body))}</pre>`);
}

// The login page: the advertised authorization_endpoint. It checks the request the way a real
// provider does, asks for a login, and hands the same parameters on to the library's /authorize.
service.addRoute('GET', '/login', (req, res) => {
  const q = req.query;
  if (q.client_id !== args['client-id']) return refuse(res, 400, { error: 'invalid_client', client_id: q.client_id });
  if (!args['redirect-uri'].includes(q.redirect_uri)) return refuse(res, 400, { error: 'invalid_redirect_uri', redirect_uri: q.redirect_uri });
  if (q.response_type !== 'code') return refuse(res, 400, { error: 'unsupported_response_type' });
  if (q.code_challenge_method !== 'S256' || !q.code_challenge) return refuse(res, 400, { error: 'invalid_request', error_description: 'PKCE S256 required' });
  if (!q.nonce) return refuse(res, 400, { error: 'invalid_request', error_description: 'nonce required' });
  if (!String(q.scope ?? '').split(' ').includes('openid')) return refuse(res, 400, { error: 'invalid_scope' });
  const hidden = Object.entries(q)
    .filter(([k]) => k !== 'login')
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('\n');
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partner sign-in</title></head>
<body><h1 id="partner-login">Partner Inc. sign-in</h1>
<form method="get" action="/authorize">
${hidden}
<label>Login <input name="login" autofocus></label>
<button type="submit" id="partner-submit">Sign in</button>
</form></body></html>`);
});

// The library's /authorize has issued a code: remember whose it is (no login: refused).
service.on('beforeAuthorizeRedirect', (redirect, req) => {
  const login = typeof req.query?.login === 'string' ? req.query.login.trim() : '';
  const code = redirect.url.searchParams.get('code');
  if (!code) return;
  if (!login || !args['redirect-uri'].includes(req.query.redirect_uri) || req.query.client_id !== args['client-id']) {
    redirect.url.searchParams.delete('code');
    redirect.url.searchParams.set('error', login ? 'invalid_request' : 'login_required');
    log(`authorize refused (login=${JSON.stringify(login)}, redirect_uri=${req.query.redirect_uri})`);
    return;
  }
  codes.set(code, { login, redirectUri: req.query.redirect_uri });
  log(`authorize: code for ${login} -> ${req.query.redirect_uri}`);
});

// Both tokens are signed by the library; the person is the code's.
service.on('beforeTokenSigning', (token, req) => {
  const issued = codes.get(req.body?.code);
  if (!issued) return;
  Object.assign(token.payload, { sub: issued.login, ...claimsFor(issued.login) });
});

// The token answer: refused unless client, code, redirect URI and verifier are right.
service.on('beforeResponse', (response, req) => {
  const body = req.body ?? {};
  const refuseToken = (status, error, detail) => {
    log(`token refused: ${error} (${detail})`);
    response.statusCode = status;
    response.body = { error, error_description: detail };
  };
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
  const decoded = basic ? Buffer.from(basic[1], 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  let id;
  let secret;
  try {
    id = colon >= 0 ? formDecode(decoded.slice(0, colon)) : undefined;
    secret = colon >= 0 ? formDecode(decoded.slice(colon + 1)) : undefined;
  } catch {
    return refuseToken(401, 'invalid_client', 'credentials not properly form-encoded');
  }
  if (id !== args['client-id'] || secret !== args['client-secret']) {
    return refuseToken(401, 'invalid_client', `client_secret_basic with the registered client required (got id ${JSON.stringify(id)})`);
  }
  if (body.grant_type !== 'authorization_code') return refuseToken(400, 'unsupported_grant_type', String(body.grant_type));
  const issued = codes.get(body.code);
  codes.delete(body.code);
  if (!issued) return refuseToken(400, 'invalid_grant', 'unknown or used code');
  if (body.redirect_uri !== issued.redirectUri) return refuseToken(400, 'invalid_grant', `redirect_uri ${body.redirect_uri} is not the code's`);
  if (!body.code_verifier) return refuseToken(400, 'invalid_grant', 'code_verifier required');
  accessTokens.set(response.body.access_token, issued.login);
  // No refresh tokens: this client is not registered for them.
  delete response.body.refresh_token;
  delete response.body.scope;
  log(`token: issued for ${issued.login}`);
});

service.on('beforeUserinfo', (response, req) => {
  const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
  const login = bearer && accessTokens.get(bearer[1]);
  if (!login) {
    response.statusCode = 401;
    response.body = { error: 'invalid_token' };
    return;
  }
  response.body = { sub: login, ...claimsFor(login) };
});

const server = createServer(requestHandler);
await new Promise((resolve, reject) => server.listen(Number(args.port), '127.0.0.1', resolve).on('error', reject));
const issuer = `http://127.0.0.1:${server.address().port}`;
oauthIssuer.url = issuer;

service.on('beforeWellKnownOpenIdConfiguration', (doc) => {
  Object.assign(doc.body, {
    authorization_endpoint: `${issuer}/login`,
    token_endpoint_auth_methods_supported: ['client_secret_basic'],
    grant_types_supported: ['authorization_code'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: ['openid', 'email', 'profile'],
    claims_supported: ['sub', 'email', 'email_verified', 'name', 'picture'],
  });
  delete doc.body.introspection_endpoint;
  delete doc.body.revocation_endpoint;
});

console.log(`partner ready ${issuer} (oauth2-mock-server, client ${args['client-id']}, redirect_uris=${args['redirect-uri'].join(' ')})`);
if (args['ready-file']) writeFileSync(args['ready-file'], `${issuer}\n`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
