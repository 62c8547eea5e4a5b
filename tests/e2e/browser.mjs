// doorman's browser scenarios: playwright-core driving Debian's headless Chromium.
//
// run.sh starts the servers and calls this with:
//   E2E_DOORMAN_URL           doorman against the provider that puts claims in the ID token
//   E2E_ISSUER                that provider's issuer
//   E2E_DOORMAN_USERINFO_URL  doorman against the provider with conformIdTokenClaims: true
//   E2E_USERINFO_ISSUER       that provider's issuer
//   E2E_USERINFO_PROVIDER_LOG that provider's log file (to see that doorman called userinfo)
//   E2E_DOORMAN_DEV_URL       doorman with no OIDC_* variables (built-in development provider)
//   E2E_DOORMAN_REFRESH_URL   doorman on E2E_ISSUER with OIDC_REFRESH, a one-minute session and recheck
//   E2E_ARTIFACTS             where screenshots go
//   E2E_RESULTS               a file: one line per step, "PASS<TAB>name<TAB>ms" or "FAIL<TAB>name<TAB>reason"
//   E2E_ONLY                  optional, comma-separated step ids (s1,s2,s3,s4,s5,s6,bcl,dev) to run a subset
//   E2E_CHROMIUM              optional, the browser binary (default /usr/bin/chromium)
// A scenario whose URL is not set is skipped (not counted). Exit code: 0 when every step that ran passed.
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const env = process.env;
const ARTIFACTS = env.E2E_ARTIFACTS ?? join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const RESULTS = env.E2E_RESULTS ?? join(ARTIFACTS, 'results.tsv');
const ONLY = (env.E2E_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const STEP_TIMEOUT_MS = 45_000;
mkdirSync(ARTIFACTS, { recursive: true });
// Stopped from outside (run.sh's trap): leave at once; playwright-core kills its browser on exit.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) process.on(signal, () => process.exit(code));

const ADA = {
  login: 'ada',
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  picture: 'https://avatars.example.com/ada.png',
  groups: ['engineering', 'sre'],
};
const GRACE = {
  login: 'grace',
  name: 'Grace Hopper',
  email: 'grace@example.com',
  picture: 'https://avatars.example.com/grace.png',
  groups: ['platform'],
};

// ---------- small assertion helpers: every failure says what was expected and what was seen ----------

class StepFailure extends Error {}

function check(condition, message) {
  if (!condition) throw new StepFailure(message);
}

function checkEqual(actual, expected, what) {
  check(actual === expected, `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

async function textOf(page, selector, what) {
  const el = page.locator(selector);
  const n = await el.count();
  check(n === 1, `${what}: expected one ${selector} on ${page.url()}, found ${n}`);
  return (await el.textContent()).trim();
}

async function attrOf(page, selector, attr, what) {
  const el = page.locator(selector);
  const n = await el.count();
  check(n === 1, `${what}: expected one ${selector} on ${page.url()}, found ${n}`);
  return el.getAttribute(attr);
}

function sameUrl(a, b) {
  return new URL(a).href === new URL(b).href;
}

// ---------- the provider's pages ----------

// Answers the provider's pages until the browser is back on `base` (doorman):
// the login form (any login, password ignored) and the consent form, whichever come.
async function completeProviderInteraction(page, issuer, base, login) {
  for (let i = 0; i < 6; i += 1) {
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/interaction/`) || u.href.startsWith(`${base}/`), {
      waitUntil: 'domcontentloaded',
    });
    if (page.url().startsWith(`${base}/`)) return;
    const prompt = await page.locator('input[name="prompt"]').first().getAttribute('value');
    const leaving = page.url();
    if (prompt === 'login') {
      await page.fill('input[name="login"]', login);
      await page.fill('input[name="password"]', 'any password');
      await page.click('button[type="submit"]');
    } else if (prompt === 'consent') {
      await page.click('button[type="submit"]');
    } else {
      throw new StepFailure(`unexpected provider page ${page.url()} (prompt=${prompt})`);
    }
    await page.waitForURL((u) => u.href !== leaving, { waitUntil: 'domcontentloaded' });
  }
  throw new StepFailure(`still at the provider after 6 pages: ${page.url()}`);
}

async function waitForProviderLogin(page, issuer) {
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/interaction/`), { waitUntil: 'domcontentloaded' });
  const prompt = await page.locator('input[name="prompt"]').first().getAttribute('value');
  checkEqual(prompt, 'login', `provider page after sign-in started (${page.url()})`);
}

// Signs in from doorman's home page; ends on `${base}/`.
async function signInFromHome(page, { base, issuer }, person) {
  await page.goto(`${base}/`);
  const signIn = page.locator('#sign-in');
  check((await signIn.count()) === 1, `signed-out / has no #sign-in link (at ${page.url()})`);
  const label = (await signIn.textContent()).trim();
  check(label.startsWith('Sign in'), `#sign-in text should start with "Sign in", got ${JSON.stringify(label)}`);
  checkEqual(await signIn.getAttribute('href'), '/auth/login', '#sign-in href');
  await signIn.click();
  await waitForProviderLogin(page, issuer);
  await completeProviderInteraction(page, issuer, base, person.login);
  await page.waitForLoadState('domcontentloaded');
  check(sameUrl(page.url(), `${base}/`), `after sign-in expected to land on ${base}/, got ${page.url()}`);
}

async function checkIdentityShown(page, person, where, { picture = true } = {}) {
  checkEqual(await textOf(page, '#user-name', `${where} #user-name`), person.name, `${where} #user-name`);
  checkEqual(await textOf(page, '#user-email', `${where} #user-email`), person.email, `${where} #user-email`);
  if (picture) {
    checkEqual(await attrOf(page, '#avatar', 'src', `${where} #avatar`), person.picture, `${where} #avatar src`);
    // The picture really shows (not blocked by the page's Content-Security-Policy, for one).
    const loaded = await page
      .waitForFunction(() => {
        const img = document.querySelector('#avatar');
        return img && img.complete && img.naturalWidth > 0;
      }, null, { timeout: 5_000 })
      .then(() => true, () => false);
    check(loaded, `${where} #avatar ${person.picture} did not load in the browser`);
  }
}

// The avatars' https URLs never leave the machine: the browser gets this picture instead.
const AVATAR_HOST = 'https://avatars.example.com/';
function avatarSvg(url) {
  const who = decodeURIComponent(url.slice(AVATAR_HOST.length).replace(/\.[a-z]+$/, ''));
  const letter = (who[0] ?? '?').toUpperCase().replace(/[^A-Z0-9]/, '?');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">
<rect width="96" height="96" fill="#2f6fde"/><text x="48" y="62" font-size="44" font-family="sans-serif"
fill="#fff" text-anchor="middle">${letter}</text></svg>`;
}

async function sessionCookie(context, base) {
  const cookies = await context.cookies(base);
  return cookies.find((c) => c.name === 'access_token' || c.name === '__Host-access_token');
}

async function checkApiUser(context, base, person, where) {
  const res = await context.request.get(`${base}/api/user`, { maxRedirects: 0 });
  const body = await res.text();
  checkEqual(res.status(), 200, `${where} GET /api/user status (body ${body.slice(0, 200)})`);
  check(
    (res.headers()['content-type'] ?? '').includes('application/json'),
    `${where} GET /api/user content-type: ${res.headers()['content-type']}`,
  );
  const json = JSON.parse(body);
  checkEqual(json.email, person.email, `${where} /api/user email`);
  checkEqual(json.name, person.name, `${where} /api/user name`);
  check(typeof json.sub === 'string' && json.sub.length > 0, `${where} /api/user sub missing: ${body}`);
  checkEqual(json.email_verified, true, `${where} /api/user email_verified`);
  check(typeof json.exp === 'number' && typeof json.iat === 'number', `${where} /api/user iat/exp: ${body}`);
  if (person.groups && base === main.base) {
    // The main doorman asks for the provider's `groups` scope (run.sh: OIDC_SCOPES).
    checkEqual(JSON.stringify(json.groups), JSON.stringify(person.groups), `${where} /api/user groups`);
  }
  return json;
}

// ---------- the scenarios ----------

const main = {
  base: env.E2E_DOORMAN_URL,
  issuer: env.E2E_ISSUER,
};

const refresh = { base: env.E2E_DOORMAN_REFRESH_URL, issuer: env.E2E_ISSUER };

async function sleepUntil(at) {
  const wait = at - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

const scenarios = [
  {
    id: 's1',
    name: 'browser 1: sign in from / via the provider login and consent; /, /profile and /api/user show the identity',
    needs: [main.base, main.issuer],
    async run({ newContext }) {
      const context = await newContext();
      const page = await context.newPage();
      await signInFromHome(page, main, ADA);
      await checkIdentityShown(page, ADA, '/');
      check((await page.locator('form[action="/auth/logout"] #sign-out').count()) === 1, '/ has no sign-out form');
      check(!!(await sessionCookie(context, main.base)), 'no access_token cookie after sign-in');
      await page.screenshot({ path: join(ARTIFACTS, 'signed-in.png'), fullPage: true });

      await page.goto(`${main.base}/profile`);
      check(sameUrl(page.url(), `${main.base}/profile`), `/profile redirected to ${page.url()} while signed in`);
      await checkIdentityShown(page, ADA, '/profile');
      const expires = await textOf(page, '#session-expires', '/profile #session-expires');
      check(expires.length > 0, '/profile #session-expires is empty');
      await page.screenshot({ path: join(ARTIFACTS, 'profile.png'), fullPage: true });

      // /api/user in the same browser: a navigation (the browser sends the cookie) ...
      const nav = await page.goto(`${main.base}/api/user`);
      checkEqual(nav.status(), 200, 'GET /api/user in the browser tab status');
      const shown = JSON.parse(await nav.text());
      checkEqual(shown.email, ADA.email, 'GET /api/user in the browser tab email');
      // ... and through the context's cookie jar.
      const json = await checkApiUser(context, main.base, ADA, 'signed-in browser');
      checkEqual(json.picture, ADA.picture, '/api/user picture');
      writeFileSync(join(ARTIFACTS, 'api-user.json'), `${JSON.stringify(json, null, 2)}\n`);
    },
  },
  {
    id: 's2',
    name: 'browser 2: deep link /profile signed out -> sign in -> lands on /profile',
    needs: [main.base, main.issuer],
    async run({ newContext }) {
      const context = await newContext();
      const direct = await context.request.get(`${main.base}/profile`, { maxRedirects: 0 });
      checkEqual(direct.status(), 303, 'signed-out GET /profile status');
      const location = new URL(direct.headers().location ?? '', `${main.base}/`);
      checkEqual(`${location.pathname}${location.search}`, '/auth/login?next=%2Fprofile', 'signed-out GET /profile Location');

      const page = await context.newPage();
      await page.goto(`${main.base}/profile`);
      await waitForProviderLogin(page, main.issuer);
      await completeProviderInteraction(page, main.issuer, main.base, GRACE.login);
      await page.waitForLoadState('domcontentloaded');
      check(sameUrl(page.url(), `${main.base}/profile`), `after sign-in expected ${main.base}/profile, got ${page.url()}`);
      await checkIdentityShown(page, GRACE, '/profile');
      await textOf(page, '#session-expires', '/profile #session-expires');
    },
  },
  {
    id: 's3',
    name: 'browser 3: sign out -> the provider signs out too and sends the browser back to "You are signed out"; /api/user answers 401; the next sign-in asks for the password again',
    needs: [main.base, main.issuer],
    async run({ newContext }) {
      const context = await newContext();
      const page = await context.newPage();
      await signInFromHome(page, main, GRACE);
      await checkIdentityShown(page, GRACE, '/ before sign-out');
      const home = await page.reload();
      const pageReferrerPolicy = home.headers()['referrer-policy'];
      await checkApiUser(context, main.base, GRACE, 'before sign-out');

      const logout = page.waitForResponse(
        (r) => r.url() === `${main.base}/auth/logout` && r.request().method() === 'POST',
      );
      await page.click('#sign-out');
      const res303 = await logout;
      if (res303.status() !== 303) {
        const sent = await res303.request().allHeaders();
        await page.waitForLoadState('domcontentloaded');
        const h1 = (await page.locator('h1').first().textContent().catch(() => '')) ?? '';
        throw new StepFailure(
          `POST /auth/logout from the #sign-out button: expected 303 to the provider, got ${res303.status()} "${h1.trim()}" `
            + `(the browser sent Origin: ${sent.origin ?? '(none)'}; `
            + `the page before had Referrer-Policy: ${pageReferrerPolicy ?? '(none)'})`,
        );
      }
      const to = new URL(res303.headers().location ?? '');
      check(to.href.startsWith(`${main.issuer}/session/end`), `sign-out should continue at the provider, went to ${to.href}`);
      check((to.searchParams.get('id_token_hint') ?? '').split('.').length === 3, `no id_token_hint in ${to.href}`);
      checkEqual(to.searchParams.get('post_logout_redirect_uri'), `${main.base}/auth/signed-out`, 'post_logout_redirect_uri');
      check((to.searchParams.get('state') ?? '').length >= 43, `no state in ${to.href}`);
      // doorman's own session ended before the browser left.
      check(!(await sessionCookie(context, main.base)), 'access_token cookie still present after sign-out');

      // The provider's own "sign out?" page (oidc-provider's logoutSource), then back to doorman.
      await page.waitForURL((u) => u.href.startsWith(`${main.issuer}/session/end`), { waitUntil: 'domcontentloaded' });
      await page.click('button[name="logout"][value="yes"]');
      await page.waitForURL((u) => u.href.startsWith(`${main.base}/auth/signed-out`), { waitUntil: 'domcontentloaded' });
      const detail = await textOf(page, '#signed-out-detail', '/auth/signed-out #signed-out-detail');
      check(detail.includes('and so has your session at'), `the signed-out page should confirm the provider's sign-out: ${JSON.stringify(detail)}`);

      const res = await context.request.get(`${main.base}/api/user`, { maxRedirects: 0 });
      checkEqual(res.status(), 401, `GET /api/user after sign-out status (body ${(await res.text()).slice(0, 200)})`);
      await page.goto(`${main.base}/`);
      const signIn = page.locator('#sign-in');
      check((await signIn.count()) === 1, `after sign-out / has no #sign-in (at ${page.url()})`);
      checkEqual(await page.locator('#user-name').count(), 0, 'after sign-out #user-name count');
      // The provider's session is gone too: signing in again shows its login form.
      await signIn.click();
      await waitForProviderLogin(page, main.issuer);
    },
  },
  {
    id: 'bcl',
    name: 'browser 7: the provider ends its session (signed out at the provider, not at doorman) -> its back-channel logout ends doorman\'s session within a second',
    needs: [main.base, main.issuer],
    async run({ newContext }) {
      const context = await newContext();
      const page = await context.newPage();
      await signInFromHome(page, main, ADA);
      await checkApiUser(context, main.base, ADA, 'before the provider signs out');
      // Straight to the provider's end-session page, as another application would send the person.
      await page.goto(`${main.issuer}/session/end`);
      await page.click('button[name="logout"][value="yes"]');
      await page.waitForLoadState('domcontentloaded');
      const started = Date.now();
      let status = 200;
      while (Date.now() - started < 1_000) {
        const res = await context.request.get(`${main.base}/api/user`, { maxRedirects: 0 });
        status = res.status();
        if (status === 401) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      checkEqual(status, 401, 'GET /api/user with the old cookie within 1 s of the provider\'s sign-out');
      check(!!(await sessionCookie(context, main.base)), 'the browser still holds the cookie: only the back channel ended it');
    },
  },
  {
    id: 'refresh',
    name: 'browser 8: OIDC_REFRESH: a used session renews, and once the account is disabled at the provider the next recheck ends it (a one-minute session, a one-minute recheck)',
    needs: [refresh.base, refresh.issuer],
    timeoutMs: 100_000,
    async run({ newContext }) {
      const context = await newContext();
      const page = await context.newPage();
      await signInFromHome(page, refresh, { login: 'dora' });
      const signedInAt = Date.now();
      const first = await sessionCookie(context, refresh.base);
      check(!!first, 'signed in');
      // Past half its lifetime: renewed, without a recheck (the provider was asked at sign-in).
      await sleepUntil(signedInAt + 32_000);
      const renewedAnswer = await context.request.get(`${refresh.base}/api/user`, { maxRedirects: 0 });
      checkEqual(renewedAnswer.status(), 200, 'GET /api/user after 32 s');
      const second = await sessionCookie(context, refresh.base);
      check(second && second.value !== first.value, 'the answer renewed the session cookie');
      // The account is disabled at the provider; the next renewal past a minute rechecks.
      const disabled = await fetch(`${refresh.issuer}/test/disable?account=dora`, { method: 'POST' });
      checkEqual(disabled.status, 204, 'the provider disabled the account');
      await sleepUntil(signedInAt + 63_000);
      const refused = await context.request.get(`${refresh.base}/api/user`, { maxRedirects: 0 });
      checkEqual(refused.status(), 401, 'GET /api/user at the recheck after the account was disabled');
    },
  },
  {
    id: 's4',
    name: 'browser 4: two tabs start sign-in at the same time; both finish signed in',
    needs: [main.base, main.issuer],
    async run({ newContext }) {
      const context = await newContext();
      const [tab1, tab2] = await Promise.all([context.newPage(), context.newPage()]);
      // Both tabs start a sign-in before either finishes: two flow cookies, two provider interactions.
      await Promise.all([tab1.goto(`${main.base}/`), tab2.goto(`${main.base}/`)]);
      await Promise.all([tab1.click('#sign-in'), tab2.click('#sign-in')]);
      await Promise.all([waitForProviderLogin(tab1, main.issuer), waitForProviderLogin(tab2, main.issuer)]);
      check(tab1.url() !== tab2.url(), `both tabs got the same provider interaction ${tab1.url()}`);

      await completeProviderInteraction(tab1, main.issuer, main.base, ADA.login);
      await tab1.waitForLoadState('domcontentloaded');
      check(sameUrl(tab1.url(), `${main.base}/`), `tab 1 expected to land on ${main.base}/, got ${tab1.url()}`);
      await checkIdentityShown(tab1, ADA, 'tab 1 /');

      await completeProviderInteraction(tab2, main.issuer, main.base, ADA.login);
      await tab2.waitForLoadState('domcontentloaded');
      check(sameUrl(tab2.url(), `${main.base}/`), `tab 2 expected to land on ${main.base}/, got ${tab2.url()}`);
      await checkIdentityShown(tab2, ADA, 'tab 2 /');

      await tab1.reload();
      await checkIdentityShown(tab1, ADA, 'tab 1 / after reload');
      await checkApiUser(context, main.base, ADA, 'after two-tab sign-in');
    },
  },
  {
    id: 's5',
    name: 'browser 5: cancel at the provider (login, then consent) -> "Sign-in cancelled" (403), no session cookie',
    needs: [main.base, main.issuer],
    async run({ newContext }) {
      const context = await newContext();
      const page = await context.newPage();

      const cancelAndCheck = async (where) => {
        const callback = page.waitForResponse((r) => r.url().startsWith(`${main.base}/auth/callback`));
        await page.click('a[href$="/abort"]');
        const res = await callback;
        const cbUrl = new URL(res.url());
        checkEqual(cbUrl.searchParams.get('error'), 'access_denied', `cancel at ${where}: callback error parameter`);
        await page.waitForLoadState('domcontentloaded');
        checkEqual(res.status(), 403, `cancel at ${where}: GET /auth/callback?error=access_denied status`);
        checkEqual(await textOf(page, 'h1', `cancel at ${where}: page`), 'Sign-in cancelled', `cancel at ${where}: <h1>`);
        check(!(await sessionCookie(context, main.base)), `cancel at ${where}: an access_token cookie was set`);
        const api = await context.request.get(`${main.base}/api/user`, { maxRedirects: 0 });
        checkEqual(api.status(), 401, `cancel at ${where}: GET /api/user status`);
      };

      // Cancel on the provider's login page.
      await page.goto(`${main.base}/`);
      await page.click('#sign-in');
      await waitForProviderLogin(page, main.issuer);
      await cancelAndCheck('the login page');
      await page.screenshot({ path: join(ARTIFACTS, 'cancelled.png'), fullPage: true });

      // Log in, then deny on the consent page.
      await page.goto(`${main.base}/auth/login`);
      await waitForProviderLogin(page, main.issuer);
      const leaving = page.url();
      await page.fill('input[name="login"]', 'ada');
      await page.fill('input[name="password"]', 'any password');
      await page.click('button[type="submit"]');
      await page.waitForURL((u) => u.href !== leaving && u.href.startsWith(`${main.issuer}/interaction/`), {
        waitUntil: 'domcontentloaded',
      });
      checkEqual(
        await page.locator('input[name="prompt"]').first().getAttribute('value'),
        'consent',
        'provider page after login',
      );
      await cancelAndCheck('the consent page');
    },
  },
  {
    id: 's6',
    name: 'browser 6: provider with profile claims only in userinfo (conformIdTokenClaims: true): name and email still show',
    needs: [env.E2E_DOORMAN_USERINFO_URL, env.E2E_USERINFO_ISSUER],
    async run({ newContext }) {
      const target = { base: env.E2E_DOORMAN_USERINFO_URL, issuer: env.E2E_USERINFO_ISSUER };
      const context = await newContext();
      const page = await context.newPage();
      await signInFromHome(page, target, ADA);
      await checkIdentityShown(page, ADA, '/ (userinfo provider)');
      await page.screenshot({ path: join(ARTIFACTS, 'signed-in-userinfo.png'), fullPage: true });
      await checkApiUser(context, target.base, ADA, 'userinfo provider');
      if (env.E2E_USERINFO_PROVIDER_LOG) {
        const log = readFileSync(env.E2E_USERINFO_PROVIDER_LOG, 'utf8');
        check(/GET \/me -> 200/.test(log), 'doorman never called the provider\'s userinfo endpoint (no "GET /me -> 200" in its log)');
      }
    },
  },
  {
    id: 'dev',
    name: 'browser dev: scenario 1 against the built-in development provider (no OIDC_* variables, no SESSION_SECRET)',
    needs: [env.E2E_DOORMAN_DEV_URL],
    async run({ newContext }) {
      const base = env.E2E_DOORMAN_DEV_URL;
      const person = { name: 'Ada Lovelace', email: 'ada@example.com', picture: 'https://avatars.example.com/ada.png' };
      const context = await newContext();
      const page = await context.newPage();
      await page.goto(`${base}/`);
      const signIn = page.locator('#sign-in');
      check((await signIn.count()) === 1, `signed-out / has no #sign-in link (at ${page.url()})`);
      check((await signIn.textContent()).trim().startsWith('Sign in'), '#sign-in text should start with "Sign in"');
      await signIn.click();
      await page.waitForURL((u) => u.href.startsWith(`${base}/dev-oidc/authorize?`), { waitUntil: 'domcontentloaded' });
      await page.fill('input[name="name"]', person.name);
      await page.fill('input[name="email"]', person.email);
      await page.fill('input[name="picture"]', person.picture);
      await page.click('#dev-sign-in');
      await page.waitForURL((u) => !u.href.startsWith(`${base}/dev-oidc/`), { waitUntil: 'domcontentloaded' });
      check(sameUrl(page.url(), `${base}/`), `after sign-in expected ${base}/, got ${page.url()}`);
      await checkIdentityShown(page, person, '/ (development provider)');
      await page.screenshot({ path: join(ARTIFACTS, 'signed-in-dev.png'), fullPage: true });

      await page.goto(`${base}/profile`);
      check(sameUrl(page.url(), `${base}/profile`), `/profile redirected to ${page.url()} while signed in`);
      await checkIdentityShown(page, person, '/profile (development provider)');
      await textOf(page, '#session-expires', '/profile #session-expires');

      const nav = await page.goto(`${base}/api/user`);
      checkEqual(nav.status(), 200, 'GET /api/user in the browser tab status');
      const json = await checkApiUser(context, base, person, 'development provider');
      checkEqual(json.picture, person.picture, '/api/user picture (development provider)');
    },
  },
];

// ---------- runner ----------

function record(line) {
  appendFileSync(RESULTS, `${line}\n`);
}

function safeName(id) {
  return id.replace(/[^a-z0-9-]+/gi, '-');
}

async function main_() {
  const selected = scenarios.filter((s) => (ONLY.length === 0 || ONLY.includes(s.id)));
  const runnable = selected.filter((s) => s.needs.every(Boolean));
  for (const s of selected.filter((x) => !runnable.includes(x))) {
    console.log(`skip ${s.name} (its server is not configured)`);
  }
  if (runnable.length === 0) return 0;

  const consoleLog = join(ARTIFACTS, 'browser-console.log');
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: env.E2E_CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      // playwright-core gives every launch a fresh temporary profile (--user-data-dir) and removes it at close.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        // Hermetic: any host but 127.0.0.1 fails at once (e.g. the avatars' https URLs), with no DNS look-up.
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      ],
      timeout: 60_000,
    });
  } catch (err) {
    const reason = `could not launch /usr/bin/chromium: ${err.message.split('\n')[0]}`;
    for (const s of runnable) {
      console.log(`FAIL ${s.name}\n     ${reason}`);
      record(`FAIL\t${s.name}\t${reason}`);
    }
    return 1;
  }
  console.log(`chromium ${browser.version()} (headless, playwright-core)`);

  let failures = 0;
  for (const scenario of runnable) {
    const contexts = [];
    const newContext = async () => {
      const ctx = await browser.newContext({ viewport: { width: 1100, height: 800 } });
      await ctx.route(`${AVATAR_HOST}**`, (route) =>
        route.fulfill({ status: 200, contentType: 'image/svg+xml', body: avatarSvg(route.request().url()) }));
      ctx.setDefaultTimeout(15_000);
      ctx.setDefaultNavigationTimeout(20_000);
      ctx.on('page', (p) => {
        p.on('console', (m) => {
          if (m.type() === 'error') appendFileSync(consoleLog, `[${scenario.id}] ${p.url()}: ${m.text()}\n`);
        });
      });
      contexts.push(ctx);
      return ctx;
    };
    const started = Date.now();
    let timer;
    try {
      await Promise.race([
        scenario.run({ newContext }),
        new Promise((_, reject) => {
          const limit = scenario.timeoutMs ?? STEP_TIMEOUT_MS;
          timer = setTimeout(() => reject(new StepFailure(`timed out after ${limit / 1000} s`)), limit);
        }),
      ]);
      const ms = Date.now() - started;
      console.log(`ok   ${scenario.name} (${(ms / 1000).toFixed(1)} s)`);
      record(`PASS\t${scenario.name}\t${ms}`);
    } catch (err) {
      failures += 1;
      const reason = (err instanceof StepFailure ? err.message : `${err.name}: ${err.message}`).split('\n')[0];
      console.log(`FAIL ${scenario.name}\n     ${reason}`);
      // Keep what each tab showed when it broke.
      let n = 0;
      for (const ctx of contexts) {
        for (const p of ctx.pages()) {
          n += 1;
          const stem = join(ARTIFACTS, `failure-${safeName(scenario.id)}-tab${n}`);
          try {
            await p.screenshot({ path: `${stem}.png`, fullPage: true, timeout: 5_000 });
            writeFileSync(`${stem}.html`, `<!-- ${p.url()} -->\n${await p.content()}`);
            console.log(`     tab ${n} was at ${p.url()} -> ${stem}.png`);
          } catch (shotErr) {
            console.log(`     (no screenshot of tab ${n}: ${shotErr.message.split('\n')[0]})`);
          }
        }
      }
      record(`FAIL\t${scenario.name}\t${reason.replace(/\t/g, ' ')}`);
    } finally {
      clearTimeout(timer);
      for (const ctx of contexts) await ctx.close().catch(() => {});
    }
  }
  await browser.close();
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main_();
