// The gateway scenarios, against nginx (auth_request) and Caddy (forward_auth) in front of the
// echo upstream, doorman deciding. run.sh starts everything and passes:
//   GW_NGINX / GW_CADDY                the protected app through each proxy (http://app.localhost:PORT)
//   GW_NGINX_DOORMAN / GW_CADDY_DOORMAN  each one's doorman, direct (for its JWKS)
//   GW_NGINX_SECRET / GW_CADDY_SECRET    each one's SESSION_SECRET (to make an expired session)
//   GW_ISSUER, GW_RESULTS, GW_ARTIFACTS
// One line per step in GW_RESULTS: "PASS\tname" or "FAIL\tname\treason".
import { createHmac } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import { chromium } from 'playwright-core';

import { StepFailure, check, checkEqual, failureReason, fetchApp, json } from './steps.mjs';
import { rawRequest, whatTheAppGot } from './raw_http.mjs';

const env = process.env;
const ISSUER = env.GW_ISSUER;
const PROXIES = [
  { name: 'nginx', base: env.GW_NGINX, doorman: env.GW_NGINX_DOORMAN, secret: env.GW_NGINX_SECRET },
  { name: 'caddy', base: env.GW_CADDY, doorman: env.GW_CADDY_DOORMAN, secret: env.GW_CADDY_SECRET },
];
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));


// The provider's login and consent pages, until the browser is back on `base`.
async function providerInteraction(page, base, login) {
  for (let i = 0; i < 6; i += 1) {
    await page.waitForURL((u) => u.href.startsWith(`${ISSUER}/interaction/`) || u.href.startsWith(`${base}/`), {
      waitUntil: 'domcontentloaded',
    });
    if (page.url().startsWith(`${base}/`)) return;
    const prompt = await page.locator('input[name="prompt"]').first().getAttribute('value');
    const leaving = page.url();
    if (prompt === 'login') {
      await page.fill('input[name="login"]', login);
      await page.fill('input[name="password"]', 'any password');
    }
    await page.click('button[type="submit"]');
    await page.waitForURL((u) => u.href !== leaving, { waitUntil: 'domcontentloaded' });
  }
  throw new StepFailure(`still at the provider: ${page.url()}`);
}

// What the upstream echoed, as the browser shows it.
async function echoed(page, what) {
  const text = await page.evaluate(() => document.body.innerText);
  try {
    return JSON.parse(text);
  } catch {
    throw new StepFailure(`${what}: the page at ${page.url()} is not the upstream's echo: ${text.slice(0, 200)}`);
  }
}

async function sessionCookie(context, base) {
  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.name === 'access_token');
  check(session, `no access_token cookie for ${base} (have: ${cookies.map((c) => c.name).join(', ')})`);
  return `access_token=${session.value}`;
}

function expiredSession(secret, base) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({
    iss: base, aud: base, sub: 'ada', idp: ISSUER, email: 'ada@example.com', email_verified: true,
    iat: now - 7200, exp: now - 3600, jti: 'expired-session-token-00000000001', sid: 'expired-session-00000000000000001',
  })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// `cookie`'s session token (name=value) signed again with its session's own claims but only
// a minute left: doorman renews it.
function nearlyExpired(secret, cookie) {
  const token = cookie.split('=')[1];
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ ...claims, iat: now - 3540, exp: now + 60, jti: 'nearly-expired-token-0000000000001' })}`;
  return { claims, token: `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}` };
}

// A browser's top-level navigation, as doorman tells one from fetch and curl.
const NAVIGATION = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'sec-fetch-site': 'none',
};

// A device grant started as `doorman login` does, through the proxy (`/auth/` is doorman's):
// its codes, verification_uri naming the app's own address (PUBLIC_URL).
async function startDeviceGrant(p) {
  const form = 'client_id=doorman-cli';
  const r = await fetchApp(`${p.base}/auth/device`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(form.length), 'user-agent': 'doorman-cli/gateway-test' },
    body: form,
  });
  checkEqual(r.status, 200, `POST /auth/device through ${p.name} (body ${r.body.slice(0, 200)})`);
  const grant = json(r, 'the device authorization');
  checkEqual(grant.verification_uri, `${p.base}/device`, 'verification_uri');
  return { grant };
}

// ---------- the steps, per proxy ----------

function steps(p) {
  const ctx = {};
  return [
    [`${p.name}: a browser navigation signs in and comes back to the URL it asked for`, async ({ newContext }) => {
      ctx.ada = await newContext();
      const page = await ctx.ada.newPage();
      await page.goto(`${p.base}/reports/q3?view=full`);
      await providerInteraction(page, p.base, 'ada');
      await page.waitForLoadState('domcontentloaded');
      checkEqual(page.url(), `${p.base}/reports/q3?view=full`, 'back on the original URL');
      const echo = await echoed(page, 'after sign-in');
      checkEqual(echo.path, '/reports/q3?view=full', 'the upstream saw the path and query');
      checkEqual(echo.headers['x-doorman-email'], 'ada@example.com', 'X-Doorman-Email upstream');
      checkEqual(echo.headers['x-doorman-name'], 'Ada%20Lovelace', 'X-Doorman-Name upstream');
      ctx.adaCookie = await sessionCookie(ctx.ada, p.base);
    }],
    [`${p.name}: fetch and curl get a 401 JSON, never a redirect`, async () => {
      for (const headers of [{ accept: '*/*' }, { accept: 'application/json', 'sec-fetch-mode': 'cors' }, { cookie: 'theme=dark' }]) {
        const r = await fetchApp(`${p.base}/api/items`, { headers });
        checkEqual(r.status, 401, `status for ${JSON.stringify(headers)}`);
        check(!r.headers.location, `no Location for ${JSON.stringify(headers)}, got ${r.headers.location}`);
        check(String(r.headers['content-type']).includes('application/json'), `JSON body, got ${r.headers['content-type']}`);
        checkEqual(json(r, 'the 401').error === undefined ? 'missing' : 'present', 'present', 'an error field');
        check(String(r.headers['www-authenticate'] ?? '').startsWith('Bearer'), `WWW-Authenticate: ${r.headers['www-authenticate']}`);
      }
    }],
    [`${p.name}: the upstream gets the identity and an assertion that verifies against the JWKS`, async () => {
      check(ctx.adaCookie, 'needs the first step');
      const r = await fetchApp(`${p.base}/whoami`, {
        headers: { cookie: `theme=dark; ${ctx.adaCookie}; lang=en`, accept: '*/*' },
      });
      checkEqual(r.status, 200, 'signed in');
      const echo = json(r, 'the echo');
      const appCookies = String(echo.headers.cookie ?? '');
      check(appCookies.includes('theme=dark') && appCookies.includes('lang=en'), `the app's own cookies pass: ${appCookies}`);
      const assertion = echo.headers['x-doorman-jwt-assertion'];
      check(assertion, 'an X-Doorman-Jwt-Assertion reached the upstream');
      const jwks = createRemoteJWKSet(new URL(`${p.doorman}/.well-known/jwks.json`));
      const { payload, protectedHeader } = await jwtVerify(assertion, jwks, {
        issuer: p.base,
        audience: new URL(p.base).origin,
        algorithms: ['ES256'],
      });
      checkEqual(protectedHeader.alg, 'ES256', 'alg');
      checkEqual(payload.email, 'ada@example.com', 'assertion email');
      checkEqual(payload.sub, echo.headers['x-doorman-user'], 'assertion sub = X-Doorman-User');
      checkEqual(payload.exp - payload.iat, 60, 'lifetime');
      check(echo.headers['x-doorman-roles'].split(',').includes('admin'), `ada is an admin: ${echo.headers['x-doorman-roles']}`);
      const token = ctx.adaCookie.split('=')[1];
      const leaked = Object.entries(echo.headers).filter(([, v]) => String(v).includes(token)).map(([k]) => k);
      checkEqual(leaked.join(','), '', 'headers carrying the session token to the upstream');
    }],
    [`${p.name}: the app gets every cookie but doorman's, whatever their number, prefix or line`, async () => {
      check(ctx.adaCookie, 'needs the first step');
      const t = ctx.adaCookie.split('=')[1];
      // The audit's table (finding 7), each with the real session so that doorman says yes.
      const cases = [
        ["doorman's cookie first", [`access_token=${t}; theme=dark; lang=en`], ['theme=dark; lang=en']],
        ['a tossed cookie beside the session', [`__Secure-access_token=${t}; theme=dark; access_token=${t}`], ['theme=dark']],
        ['__Host- and __Secure- (a COOKIE_DOMAIN change)', [`theme=dark; __Host-access_token=${t}; __Secure-access_token=${t}; access_token=${t}; lang=en`], ['theme=dark; lang=en']],
        ['two Cookie lines', [`theme=dark; access_token=${t}`, `__Secure-access_token=${t}; lang=en`], ['theme=dark; lang=en']],
        ['sign-in attempts', [`doorman_flow_abc=FLOW; x=1; __Host-doorman_flow_d=G; access_token=${t}`], ['x=1']],
        ["nothing but doorman's", [`access_token=${t}`], []],
      ];
      const problems = [];
      for (const [what, lines, expected] of cases) {
        const r = await rawRequest(`${p.base}/whoami`, [...lines.map((l) => ['Cookie', l]), ['Accept', '*/*']]);
        problems.push(...whatTheAppGot(r, what, t, 'cookie', expected));
      }
      check(problems.length === 0, problems.join(' | '));
    }],
    [`${p.name}: a Bearer token is doorman's, in any spelling, and never reaches the app; Basic does`, async () => {
      check(ctx.adaCookie, 'needs the first step');
      const t = ctx.adaCookie.split('=')[1];
      const problems = [];
      for (const [authorization, cookie, expected] of [
        [`Bearer ${t}`, null, []],
        [`bearer ${t}`, null, []],
        [`BEARER   ${t}`, null, []],
        [`Bearer\t${t}`, ctx.adaCookie, []],
        ['Basic dXNlcjpwYXNz', `theme=dark; ${ctx.adaCookie}`, ['Basic dXNlcjpwYXNz']],
      ]) {
        const lines = [['Authorization', authorization], ['Accept', '*/*'], ...(cookie ? [['Cookie', cookie]] : [])];
        const r = await rawRequest(`${p.base}/whoami`, lines);
        problems.push(...whatTheAppGot(r, JSON.stringify(authorization.replace(t, '<token>')), t, 'authorization', expected));
      }
      check(problems.length === 0, problems.join(' | '));
      const forged = await rawRequest(`${p.base}/whoami`, [['Authorization', 'Bearer not-a-doorman-token'], ['Accept', '*/*']]);
      checkEqual(forged.status, 401, 'doorman judges the Bearer token: a wrong one is refused');
    }],
    [`${p.name}: the verification URI doorman login prints (PUBLIC_URL/device) reaches doorman's approval page through the proxy`, async () => {
      check(ctx.adaCookie, 'needs the first step');
      const { grant } = await startDeviceGrant(p);
      const r = await fetchApp(grant.verification_uri_complete, {
        headers: { cookie: ctx.adaCookie, ...NAVIGATION },
      });
      let echo = null;
      try { echo = JSON.parse(r.body); } catch { /* a page, not the upstream's echo */ }
      check(!Array.isArray(echo?.lines), `GET ${new URL(grant.verification_uri_complete).pathname}?code=… went to the upstream app (it answered ${r.status} with its echo), not to doorman: the ${p.name} config in deploy/ passes only /auth/ to doorman`);
      checkEqual(r.status, 200, `GET ${grant.verification_uri_complete} status`);
      check(r.body.includes('id="device-confirm"'), `not doorman's confirm page: ${r.body.slice(0, 200)}`);
    }],
    [`${p.name}: a device-grant token (doorman login's) as Authorization: Bearer passes the admins and ops policies; the upstream gets the identity and the approving session's groups, never the Authorization header or the token`, async () => {
      check(ctx.adaCookie, 'needs the first step');
      // The terminal starts and polls through the proxy (/auth/ is doorman's); the person
      // approves with ada's session at doorman's own address (the step before checks that
      // the proxy passes PUBLIC_URL/device on).
      const { grant } = await startDeviceGrant(p);
      const code = grant.user_code;
      const direct = `${p.doorman}/device`;
      const asApp = { host: new URL(p.base).host, cookie: ctx.adaCookie };
      const confirm = await fetchApp(`${direct}?code=${code}`, { headers: { ...asApp, ...NAVIGATION } });
      checkEqual(confirm.status, 200, 'the confirm page, with ada\'s session');
      check(confirm.body.includes(`id="device-code">${code}<`), `the confirm page does not show ${code}: ${confirm.body.slice(0, 200)}`);
      const form = `code=${code}&action=approve`;
      const approved = await fetchApp(direct, {
        method: 'POST',
        headers: { ...asApp, origin: p.base, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(form.length) },
        body: form,
      });
      checkEqual(approved.status, 200, 'POST /device action=approve');
      check(approved.body.includes('id="device-approved"'), `not the approved page: ${approved.body.slice(0, 200)}`);
      const poll = `grant_type=${encodeURIComponent('urn:ietf:params:oauth:grant-type:device_code')}&device_code=${grant.device_code}`;
      const tokens = await fetchApp(`${p.base}/auth/device/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(poll.length) },
        body: poll,
      });
      checkEqual(tokens.status, 200, `the poll through ${p.name} after approval (body ${tokens.body.slice(0, 200)})`);
      const pair = json(tokens, 'the token pair');
      checkEqual(pair.token_type, 'Bearer', 'token_type');
      const t = pair.access_token;
      check(t && t !== ctx.adaCookie.split('=')[1], 'the device grant gave the browser\'s own token');

      const problems = [];
      for (const [path, policy] of [['/admin/reports', 'admins'], ['/ops/board', 'ops'], ['/whoami', 'default']]) {
        const r = await rawRequest(`${p.base}${path}`, [['Authorization', `Bearer ${t}`], ['Accept', '*/*']]);
        problems.push(...whatTheAppGot(r, `${path} (${policy})`, t, 'authorization', []));
        if (r.status !== 200) continue;
        const echo = JSON.parse(r.body);
        if (echo.headers['x-doorman-email'] !== 'ada@example.com') problems.push(`${path}: X-Doorman-Email ${echo.headers['x-doorman-email']}`);
        if (!echo.headers['x-doorman-user']) problems.push(`${path}: no X-Doorman-User`);
        if (!String(echo.headers['x-doorman-roles'] ?? '').split(',').includes('admin')) problems.push(`${path}: X-Doorman-Roles ${echo.headers['x-doorman-roles']}`);
        if (echo.headers['x-doorman-groups'] !== 'engineering,sre') problems.push(`${path}: X-Doorman-Groups ${echo.headers['x-doorman-groups']} (the approving session's are engineering,sre)`);
        const leaked = Object.entries(echo.headers).filter(([, v]) => String(v).includes(t) || String(v).includes(pair.refresh_token)).map(([k]) => k);
        if (leaked.length) problems.push(`${path}: headers carrying the token upstream: ${leaked.join(',')}`);
      }
      check(problems.length === 0, problems.join(' | '));
      const echo = json(await fetchApp(`${p.base}/whoami`, { headers: { authorization: `Bearer ${t}`, accept: '*/*' } }), 'the echo');
      const jwks = createRemoteJWKSet(new URL(`${p.doorman}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(echo.headers['x-doorman-jwt-assertion'], jwks, { issuer: p.base, audience: new URL(p.base).origin, algorithms: ['ES256'] });
      checkEqual(payload.email, 'ada@example.com', 'the assertion\'s email for the device token');
      checkEqual(payload.sub, echo.headers['x-doorman-user'], 'assertion sub = X-Doorman-User');
    }],
    [`${p.name}: a Host that is not a host name never reaches the app with an assertion`, async () => {
      check(ctx.adaCookie, 'needs the first step');
      const port = new URL(p.base).port;
      const problems = [];
      for (const host of [`app.localhost@evil.localhost:${port}`, `evil.localhost?:${port}`, `evil.localhost#x:${port}`]) {
        const r = await rawRequest(`${p.base}/whoami`, [['Cookie', ctx.adaCookie], ['Accept', '*/*']], { host });
        let echo = null;
        try { echo = JSON.parse(r.body); } catch { /* not the upstream's echo */ }
        if (Array.isArray(echo?.lines)) {
          const assertion = echo.headers['x-doorman-jwt-assertion'] ?? '';
          const aud = assertion ? JSON.parse(Buffer.from(assertion.split('.')[1], 'base64url')).aud : 'none';
          problems.push(`Host ${host}: the upstream answered, with an assertion for ${aud}`);
        } else if (p.name === 'nginx' && r.status !== 400) {
          problems.push(`Host ${host}: status ${r.status}, not 400`);
        }
      }
      check(problems.length === 0, problems.join(' | '));
    }],
    [`${p.name}: a client's own X-Doorman-* headers never reach the upstream`, async () => {
      const r = await fetchApp(`${p.base}/whoami`, {
        headers: {
          cookie: ctx.adaCookie,
          'x-doorman-user': 'mallory',
          'x-doorman-email': 'mallory@evil.example',
          'x-doorman-roles': 'admin,root',
          'x-doorman-jwt-assertion': 'forged',
        },
      });
      checkEqual(r.status, 200, 'signed in');
      const echo = json(r, 'the echo');
      check(echo.headers['x-doorman-user'] !== 'mallory', `spoofed user reached the upstream: ${echo.headers['x-doorman-user']}`);
      checkEqual(echo.headers['x-doorman-email'], 'ada@example.com', 'email overwritten');
      check(echo.headers['x-doorman-jwt-assertion'] !== 'forged', 'assertion overwritten');
    }],
    [`${p.name}: a viewer on the admin policy gets 403, and no query string picks a weaker policy`, async ({ newContext }) => {
      ctx.grace = await newContext();
      const page = await ctx.grace.newPage();
      await page.goto(`${p.base}/hello`);
      await providerInteraction(page, p.base, 'grace');
      await page.waitForLoadState('domcontentloaded');
      checkEqual((await echoed(page, 'grace signed in')).headers['x-doorman-email'], 'grace@example.com', 'grace');
      ctx.graceCookie = await sessionCookie(ctx.grace, p.base);
      for (const path of ['/admin/', '/admin/?policy=default&public=1', '/admin/x?rd=/&api=true']) {
        const r = await fetchApp(`${p.base}${path}`, { headers: { cookie: ctx.graceCookie } });
        checkEqual(r.status, 403, `grace at ${path}`);
      }
      const admin = await fetchApp(`${p.base}/admin/`, { headers: { cookie: ctx.adaCookie } });
      checkEqual(admin.status, 200, 'ada (admin) at /admin/');
    }],
    [`${p.name}: a groups policy admits the provider's groups (sre, platform) and refuses others with a 403 naming what it needs`, async ({ newContext }) => {
      check(ctx.adaCookie && ctx.graceCookie, 'needs the first steps');
      const ada = await fetchApp(`${p.base}/ops/board`, { headers: { cookie: ctx.adaCookie, accept: '*/*' } });
      checkEqual(ada.status, 200, 'ada (groups engineering, sre) at /ops/board');
      const echo = json(ada, 'the echo');
      checkEqual(echo.headers['x-doorman-groups'], 'engineering,sre', 'X-Doorman-Groups upstream');
      checkEqual(echo.headers['x-doorman-groups-truncated'] ?? '', '', 'not truncated');
      const jwks = createRemoteJWKSet(new URL(`${p.doorman}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(echo.headers['x-doorman-jwt-assertion'], jwks, { algorithms: ['ES256'] });
      checkEqual(JSON.stringify(payload.groups), '["engineering","sre"]', 'the assertion carries the groups');
      const grace = await fetchApp(`${p.base}/ops/board`, { headers: { cookie: ctx.graceCookie, accept: '*/*' } });
      checkEqual(grace.status, 200, 'grace (group platform) at /ops/board');

      const eveContext = await newContext();
      const page = await eveContext.newPage();
      await page.goto(`${p.base}/hello`);
      await providerInteraction(page, p.base, 'eve');
      await page.waitForLoadState('domcontentloaded');
      const eveCookie = await sessionCookie(eveContext, p.base);
      const eve = await fetchApp(`${p.base}/ops/board`, { headers: { cookie: eveCookie, accept: 'application/json' } });
      checkEqual(eve.status, 403, 'eve (group everyone) at /ops/board');
      if (p.name === 'caddy') {
        // forward_auth passes doorman's refusal on as it is; nginx shows its own 403 page.
        const refusal = json(eve, 'the 403');
        checkEqual(refusal.policy, 'ops', 'the 403 names the policy');
        checkEqual(refusal.reason, 'group_required', 'the 403 says a group is missing');
        checkEqual(JSON.stringify(refusal.required), '["sre","platform"]', 'the 403 says which groups would do');
        check(String(refusal.message).includes('needs one of the groups sre, platform'), `message: ${refusal.message}`);
        check(!eve.body.includes('everyone'), `the 403 never lists the caller's own groups: ${eve.body}`);
      }
    }],
    [`${p.name}: a session with less than half its lifetime left is renewed${p.name === 'nginx' ? ' through the auth answer\'s Set-Cookie' : ' at doorman only (forward_auth passes no answer header on a 2xx)'}`, async () => {
      check(ctx.adaCookie, 'needs the first step');
      const { claims, token } = nearlyExpired(p.secret, ctx.adaCookie);
      const r = await fetchApp(`${p.base}/whoami`, { headers: { cookie: `access_token=${token}`, accept: '*/*' } });
      checkEqual(r.status, 200, 'the nearly expired session still passes');
      const setCookie = [].concat(r.headers['set-cookie'] ?? []).find((c) => c.startsWith('access_token='));
      if (p.name === 'nginx') {
        check(setCookie, `no renewed cookie on the answer: ${JSON.stringify(r.headers)}`);
        const renewed = JSON.parse(Buffer.from(setCookie.split(';')[0].split('=')[1].split('.')[1], 'base64url').toString());
        checkEqual(renewed.sid, claims.sid, 'the renewal is of the same session');
        check(renewed.exp - renewed.iat === 3600, `a full lifetime: ${renewed.exp - renewed.iat}`);
        check(setCookie.includes('HttpOnly'), `the cookie keeps its attributes: ${setCookie}`);
        const echo = json(r, 'the echo');
        check(!JSON.stringify(echo).includes(setCookie.split(';')[0].split('=')[1]), 'the app never sees the new token');
      } else {
        // Caddy's forward_auth copies no answer header to the client on a 2xx: the session
        // runs to its expiry, then a navigation renews it through sign-in (docs/how-to/caddy.md).
        checkEqual(setCookie, undefined, 'Set-Cookie through Caddy');
      }
    }],
    [`${p.name}: a sign-in never returns to a host that is not allowed`, async () => {
      const page = await ctx.ada.newPage();
      // Ada's provider session is alive, so the round trip needs no typing.
      await page.goto(`${p.base}/auth/login?rd=${encodeURIComponent('http://evil.localhost:9/steal')}`);
      await page.waitForURL((u) => u.href.startsWith(`${p.base}/`) && !u.pathname.startsWith('/auth/'), {
        waitUntil: 'domcontentloaded',
      });
      checkEqual(page.url(), `${p.base}/`, 'landed on the app, not evil.localhost');
    }],
    [`${p.name}: an expired session on a navigation goes through sign-in and back without asking again`, async () => {
      const u = new URL(p.base);
      await ctx.ada.addCookies([{ name: 'access_token', value: expiredSession(p.secret, p.base), domain: u.hostname, path: '/' }]);
      const page = await ctx.ada.newPage();
      const seen = [];
      page.on('framenavigated', (f) => { if (f === page.mainFrame()) seen.push(f.url()); });
      await page.goto(`${p.base}/inbox`);
      await page.waitForURL(`${p.base}/inbox`, { waitUntil: 'domcontentloaded' });
      const echo = await echoed(page, 'after the silent round trip');
      checkEqual(echo.headers['x-doorman-email'], 'ada@example.com', 'signed in again');
      check(!seen.some((s) => s.startsWith(`${ISSUER}/interaction/`)), `the provider asked again: ${seen.join(' -> ')}`);
      ctx.adaCookie = await sessionCookie(ctx.ada, p.base);
    }],
    [`${p.name}: a signed-out session is refused at the next request`, async () => {
      const before = await fetchApp(`${p.base}/whoami`, { headers: { cookie: ctx.graceCookie } });
      checkEqual(before.status, 200, 'grace before signing out');
      const out = await fetchApp(`${p.base}/auth/logout`, {
        method: 'POST',
        headers: { cookie: ctx.graceCookie, origin: p.base, 'content-length': '0' },
      });
      checkEqual(out.status, 303, 'sign-out');
      const after = await fetchApp(`${p.base}/whoami`, { headers: { cookie: ctx.graceCookie, accept: '*/*' } });
      checkEqual(after.status, 401, 'the same cookie after sign-out');
    }],
  ];
}

// ---------- runner ----------

function record(line) {
  appendFileSync(env.GW_RESULTS ?? join(env.GW_ARTIFACTS ?? '.', 'results.tsv'), `${line}\n`);
}

const browser = await chromium.launch({
  executablePath: env.GW_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--no-first-run',
    '--host-resolver-rules=MAP app.localhost 127.0.0.1, MAP evil.localhost 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ],
  timeout: 60_000,
});
let failures = 0;
for (const p of PROXIES) {
  const contexts = [];
  const newContext = async () => {
    const c = await browser.newContext();
    c.setDefaultTimeout(15_000);
    c.setDefaultNavigationTimeout(20_000);
    contexts.push(c);
    return c;
  };
  let broken = false;
  for (const [name, run] of steps(p)) {
    if (broken) {
      record(`FAIL\t${name}\tskipped: an earlier ${p.name} step failed`);
      console.log(`FAIL ${name} (skipped)`);
      failures += 1;
      continue;
    }
    try {
      await run({ newContext });
      record(`PASS\t${name}`);
      console.log(`ok   ${name}`);
    } catch (err) {
      const reason = failureReason(err);
      record(`FAIL\t${name}\t${reason}`);
      console.log(`FAIL ${name}\n     ${reason}`);
      failures += 1;
      broken = name.includes('signs in and comes back');
    }
  }
  for (const c of contexts) await c.close();
}
await browser.close();
process.exit(failures === 0 ? 0 : 1);
