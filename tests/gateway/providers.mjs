// Several OpenID providers at once ([[provider]] blocks), through nginx (auth_request), Caddy
// (forward_auth) and doorman's own front door ([[gateway.route]]), each before the echo
// upstream. Two providers: `corp`, discovered (discovery.py serves its metadata, so sign-in
// reaches its authorization endpoint), and `partner`, whose issuer nobody answers. Policies:
// `corp-only` (providers = ["corp"]) at /corp/, `either` (corp and partner) at /either/, and the
// public `status` at /status/. Sessions are minted with each doorman's SESSION_SECRET
// (mint_session.py --idp). run.sh starts everything and passes:
//   GW_PROVIDERS            JSON: [{ name, base, doorman, secret }] per gateway
//   GW_CORP_ISSUER / GW_PARTNER_ISSUER
//   GW_UPSTREAM_LOG         the echo upstream's log (a refused request must not be in it)
//   GW_RESULTS, GW_ARTIFACTS
// One line per step in GW_RESULTS: "PASS\tname" or "FAIL\tname\treason". Plain HTTP only: a
// navigation is a request with a browser's navigation headers.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createRemoteJWKSet, jwtVerify } from 'jose';

import { check, checkEqual, failureReason, fetchApp, json } from './steps.mjs';
import { rawRequest } from './raw_http.mjs';

const env = process.env;
const here = dirname(fileURLToPath(import.meta.url));
const GATEWAYS = JSON.parse(env.GW_PROVIDERS);
const CORP = env.GW_CORP_ISSUER;
const PARTNER = env.GW_PARTNER_ISSUER;
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

// A browser's top-level navigation, as doorman tells one from fetch and curl.
const NAVIGATION = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'sec-fetch-site': 'none',
};

// The upstream's echo (upstream.py), or a failure saying what came instead.
function echoOf(response, what) {
  checkEqual(response.status, 200, `${what}: status`);
  const echo = json(response, what);
  check(Array.isArray(echo.lines), `${what}: not the upstream's echo: ${response.body.slice(0, 200)}`);
  return echo;
}

// The header lines named `name` (any case) the upstream received, in order.
function received(echo, name) {
  return echo.lines.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
}

// A session token of `p`'s doorman from mint_session.py: `idp` null for a local account's.
function mint(p, { idp = null, sub = null, email = null } = {}) {
  const args = [join(here, 'mint_session.py'), p.secret, p.base];
  if (idp) args.push('--idp', idp);
  if (sub) args.push('--sub', sub);
  if (email) args.push('--email', email);
  return execFileSync('python3', args, { encoding: 'utf8' }).trim();
}

// What doorman's login URL for `target` is: PUBLIC_URL/auth/login?rd=<target, form-encoded>,
// then the policy's providers.
function loginUrl(p, target, providers) {
  return `${p.base}/auth/login?${new URLSearchParams({ rd: target })}&${providers}`;
}

// The chooser's buttons: id -> href (HTML entities of the href undone).
function chooserButtons(html) {
  const buttons = {};
  for (const m of html.matchAll(/<a\s+id="provider-([^"]+)"[^>]*\shref="([^"]*)"/g)) {
    buttons[m[1]] = m[2].replace(/&#38;|&amp;/g, '&').replace(/&#x2F;|&#47;/g, '/');
  }
  return buttons;
}

function upstreamLog() {
  return readFileSync(env.GW_UPSTREAM_LOG, 'utf8');
}

async function verifyAssertion(p, echo, what) {
  const assertion = echo.headers['x-doorman-jwt-assertion'];
  check(assertion, `${what}: no X-Doorman-Jwt-Assertion reached the upstream`);
  const jwks = createRemoteJWKSet(new URL(`${p.doorman}/.well-known/jwks.json`));
  const { payload } = await jwtVerify(assertion, jwks, {
    issuer: p.base,
    audience: new URL(p.base).origin,
    algorithms: ['ES256'],
  });
  return payload;
}

// ---------- the steps, per gateway ----------

function steps(p) {
  const corp = mint(p, { idp: CORP, sub: 'corp-ada', email: 'ada@corp.example' });
  const partner = mint(p, { idp: PARTNER, sub: 'partner-bob', email: 'bob@partner.example' });
  const local = mint(p);
  const id = randomBytes(6).toString('hex');
  return [
    [`${p.name}: a session from corp passes corp-only; the upstream gets X-Doorman-Idp: corp and an assertion with corp's idp and provider`, async () => {
      const r = await fetchApp(`${p.base}/corp/whoami?view=full`, { headers: { cookie: `access_token=${corp}`, accept: '*/*' } });
      const echo = echoOf(r, 'corp at /corp/');
      checkEqual(echo.path, '/corp/whoami?view=full', 'the upstream saw the path and query');
      checkEqual(echo.headers['x-doorman-user'], 'corp-ada', 'X-Doorman-User');
      checkEqual(JSON.stringify(received(echo, 'x-doorman-idp')), '["corp"]', 'X-Doorman-Idp lines upstream');
      const payload = await verifyAssertion(p, echo, 'corp at /corp/');
      checkEqual(payload.idp, CORP, "the assertion's idp (corp's issuer)");
      checkEqual(payload.provider, 'corp', "the assertion's provider");
      checkEqual(payload.sub, 'corp-ada', "the assertion's sub");
    }],
    [`${p.name}: a policy naming corp and partner admits a session from either, each named as its own provider`, async () => {
      for (const [who, token, provider, issuer] of [['corp', corp, 'corp', CORP], ['partner', partner, 'partner', PARTNER]]) {
        const r = await fetchApp(`${p.base}/either/board`, { headers: { cookie: `access_token=${token}`, accept: '*/*' } });
        const echo = echoOf(r, `${who} at /either/`);
        checkEqual(echo.headers['x-doorman-idp'], provider, `${who}: X-Doorman-Idp`);
        const payload = await verifyAssertion(p, echo, `${who} at /either/`);
        checkEqual(payload.idp, issuer, `${who}: the assertion's idp`);
        checkEqual(payload.provider, provider, `${who}: the assertion's provider`);
      }
    }],
    [`${p.name}: a session from partner, or a local account's, gets 403 provider_required at corp-only (a navigation an HTML page) and the upstream receives nothing`, async () => {
      const refused = `/corp/refused-${id}`;
      const cases = [
        ['partner, fetch', partner, { accept: 'application/json' }],
        ['partner, navigation', partner, NAVIGATION],
        ['a local account, fetch', local, { accept: 'application/json' }],
      ];
      for (const [what, token, headers] of cases) {
        const r = await fetchApp(`${p.base}${refused}?${what.replace(/\W+/g, '-')}`, { headers: { cookie: `access_token=${token}`, ...headers } });
        checkEqual(r.status, 403, `${what}: status`);
        check(!r.headers.location, `${what}: no redirect, got Location ${r.headers.location}`);
        const type = String(r.headers['content-type'] ?? '');
        if (headers === NAVIGATION) {
          check(type.startsWith('text/html'), `${what}: an HTML page, got ${type}`);
          // nginx shows its own 403 page (auth_request keeps doorman's body); the others doorman's.
          if (p.name !== 'nginx') {
            check(r.body.includes('admits only people signed in with corp'), `${what}: the page says why: ${r.body.slice(0, 300)}`);
          }
        } else if (p.name !== 'nginx') {
          const refusal = json(r, what);
          checkEqual(refusal.reason, 'provider_required', `${what}: reason`);
          checkEqual(refusal.policy, 'corp-only', `${what}: policy`);
          checkEqual(JSON.stringify(refusal.required), '["corp"]', `${what}: required`);
        }
        check(!r.body.includes('"lines"'), `${what}: the upstream answered: ${r.body.slice(0, 200)}`);
      }
      if (p.name === 'nginx') {
        // What doorman answered nginx's subrequest, asked directly the way nginx asks it.
        const target = `${p.base}${refused}`;
        const r = await fetchApp(`${p.doorman}/.doorman/auth-request/corp-only`, {
          headers: { cookie: `access_token=${partner}`, accept: 'application/json', 'x-original-url': target, 'x-original-method': 'GET', 'x-forwarded-for': '127.0.0.1' },
        });
        checkEqual(r.status, 403, "doorman's answer to the subrequest");
        checkEqual(json(r, 'the subrequest').reason, 'provider_required', "the subrequest's reason");
      }
      // A control the upstream does receive, so that its log is known to be written.
      const admitted = `/corp/admitted-${id}`;
      echoOf(await fetchApp(`${p.base}${admitted}`, { headers: { cookie: `access_token=${corp}`, accept: '*/*' } }), 'the control');
      const log = upstreamLog();
      check(log.includes(admitted), `the control ${admitted} is not in the upstream's log`);
      check(!log.includes(refused), `a refused request reached the upstream: ${log.split('\n').filter((l) => l.includes(refused)).join(' | ')}`);
    }],
    [`${p.name}: a signed-out navigation goes to sign in with corp (&provider=corp), or with corp or partner for a policy naming both (&providers=corp,partner)`, async () => {
      for (const [path, providers] of [['/corp/reports?view=full', 'provider=corp'], ['/either/board', 'providers=corp,partner']]) {
        const r = await fetchApp(`${p.base}${path}`, { headers: NAVIGATION });
        checkEqual(r.status, 302, `${path}: status`);
        checkEqual(r.headers.location, loginUrl(p, `${p.base}${path}`, providers), `${path}: Location`);
        const api = await fetchApp(`${p.base}${path}`, { headers: { accept: 'application/json' } });
        checkEqual(api.status, 401, `${path} for fetch: status`);
        check(!api.headers.location, `${path} for fetch: no redirect, got ${api.headers.location}`);
      }
    }],
    [`${p.name}: sign-in with provider=corp goes to corp's authorization endpoint; providers=corp,partner and no provider show the chooser; partner, undiscovered, is a 503 page`, async () => {
      const target = `${p.base}/corp/reports?view=full`;
      const r = await fetchApp(loginUrl(p, target, 'provider=corp'), { headers: NAVIGATION });
      checkEqual(r.status, 303, 'provider=corp: status');
      const to = new URL(r.headers.location ?? 'about:blank');
      checkEqual(`${to.origin}${to.pathname}`, `${CORP}/authorize`, "corp's authorization endpoint");
      checkEqual(to.searchParams.get('client_id'), 'doorman-gw', 'client_id');
      checkEqual(to.searchParams.get('redirect_uri'), `${p.base}/auth/callback/corp`, "corp's own redirect_uri");
      checkEqual(to.searchParams.get('response_type'), 'code', 'response_type');
      checkEqual(to.searchParams.get('code_challenge_method'), 'S256', 'PKCE');
      check(to.searchParams.get('state') && to.searchParams.get('nonce'), `state and nonce: ${to.search}`);
      const cookies = [].concat(r.headers['set-cookie'] ?? []);
      check(cookies.some((c) => c.startsWith('doorman_flow_')), `the attempt's cookie: ${JSON.stringify(cookies)}`);

      const either = `${p.base}/either/board`;
      for (const [what, url, expected] of [
        ['providers=corp,partner', loginUrl(p, either, 'providers=corp,partner'), `rd=${encodeURIComponent(either)}`],
        ['no provider', `${p.base}/auth/login`, ''],
      ]) {
        const page = await fetchApp(url, { headers: NAVIGATION });
        checkEqual(page.status, 200, `${what}: status`);
        check(String(page.headers['content-type']).startsWith('text/html'), `${what}: HTML, got ${page.headers['content-type']}`);
        const buttons = chooserButtons(page.body);
        checkEqual(Object.keys(buttons).join(','), 'corp,partner', `${what}: the chooser's buttons`);
        for (const provider of ['corp', 'partner']) {
          const href = buttons[provider];
          check(href.startsWith(`/auth/login?provider=${provider}`), `${what}: ${provider}'s button: ${href}`);
          const rd = new URLSearchParams(href.split('?')[1]).get('rd');
          checkEqual(rd, expected ? either : null, `${what}: ${provider}'s button keeps where to return`);
        }
      }

      const dead = await fetchApp(loginUrl(p, target, 'provider=partner'), { headers: NAVIGATION });
      checkEqual(dead.status, 503, 'provider=partner: status');
      check(String(dead.headers['content-type']).startsWith('text/html'), `provider=partner: HTML, got ${dead.headers['content-type']}`);
      check(dead.body.includes('Sign-in is unavailable'), `provider=partner: doorman's page: ${dead.body.slice(0, 300)}`);
    }],
    [`${p.name}: a client's own X-Doorman-Idp never reaches the upstream: none for an anonymous caller on a public route, doorman's for a signed-in one`, async () => {
      const spoof = [['X-Doorman-Idp', 'corp'], ['x-doorman-idp', 'partner'], ['X-Doorman-Jwt-Assertion', 'forged'], ['Accept', '*/*']];
      const cases = [
        ['anonymous at /status/', '/status/anonymous', null, ['']],
        ['partner at /status/', '/status/partner', partner, ['partner']],
        ['corp at /corp/', '/corp/spoofed', corp, ['corp']],
        ['a local account at /status/', '/status/local', local, ['local']],
      ];
      const problems = [];
      for (const [what, path, token, expected] of cases) {
        const r = await rawRequest(`${p.base}${path}`, [...spoof, ...(token ? [['Cookie', `access_token=${token}`]] : [])]);
        let echo;
        try {
          echo = echoOf(r, what);
        } catch (err) {
          problems.push(err.message);
          continue;
        }
        // An anonymous caller's header may be left out or sent empty; never the client's.
        const got = received(echo, 'x-doorman-idp');
        const ok = token ? JSON.stringify(got) === JSON.stringify(expected) : got.every((v) => v === '') && got.length <= 1;
        if (!ok) problems.push(`${what}: X-Doorman-Idp lines ${JSON.stringify(got)}, expected ${token ? JSON.stringify(expected) : 'none or one empty'}`);
        const assertions = received(echo, 'x-doorman-jwt-assertion');
        if (assertions.includes('forged') || (!token && assertions.some((v) => v !== ''))) {
          problems.push(`${what}: X-Doorman-Jwt-Assertion lines ${JSON.stringify(assertions)}`);
        }
      }
      check(problems.length === 0, problems.join(' | '));
    }],
  ];
}

// ---------- runner ----------

function record(line) {
  appendFileSync(env.GW_RESULTS ?? join(env.GW_ARTIFACTS ?? '.', 'results.tsv'), `${line}\n`);
}

async function readiness() {
  // One step for the three doormen: partner's issuer never answers, corp's does.
  const problems = [];
  for (const p of GATEWAYS) {
    const r = await fetchApp(`${p.doorman}/readyz`);
    const body = json(r, `${p.name}'s /readyz`);
    if (r.status !== 200 || body.status !== 'ready') problems.push(`${p.name}: ${r.status} ${r.body}`);
    const checks = body.checks ?? {};
    if (checks.provider_corp_discovery?.ok !== true) problems.push(`${p.name}: corp ${JSON.stringify(checks.provider_corp_discovery)}`);
    const dead = checks.provider_partner_discovery;
    if (dead?.ok !== false || dead?.required !== false) problems.push(`${p.name}: partner ${JSON.stringify(dead)}`);
  }
  check(problems.length === 0, problems.join(' | '));
}

let failures = 0;
async function run(name, body) {
  try {
    await body();
    record(`PASS\t${name}`);
    console.log(`ok   ${name}`);
  } catch (err) {
    const reason = failureReason(err);
    record(`FAIL\t${name}\t${reason}`);
    console.log(`FAIL ${name}\n     ${reason}`);
    failures += 1;
  }
}

await run('providers: /readyz is ready with corp discovered and partner not (partner is not required)', readiness);
for (const p of GATEWAYS) {
  let list;
  try {
    list = steps(p);
  } catch (err) {
    await run(`${p.name}: sessions minted with mint_session.py`, () => { throw err; });
    continue;
  }
  for (const [name, body] of list) await run(name, body);
}
process.exit(failures === 0 ? 0 : 1);
