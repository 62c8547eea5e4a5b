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
//   E2E_MULTI_URL             doorman with two [[provider]] blocks: corp (oidc-provider) and partner (oauth2-mock-server)
//   E2E_CORP_ISSUER           corp's issuer (provider.mjs --people corp)
//   E2E_PARTNER_ISSUER        partner's issuer (partner.mjs)
//   E2E_CORP_LOG, E2E_PARTNER_LOG  their logs (to count their token requests)
//   E2E_MULTI_LOG             doorman-multi's log (why it refused a callback)
//   E2E_PARTNER_PID           partner's process, stopped by scenario mstop (the last one using it)
//   E2E_HALF_URL              doorman with corp and a second provider whose issuer nobody listens at
//   E2E_DEAD_ISSUER           that issuer
//   E2E_ARTIFACTS             where screenshots go
//   E2E_RESULTS               a file: one line per step, "PASS<TAB>name<TAB>ms" or "FAIL<TAB>name<TAB>reason"
//   E2E_DOORMAN_BIN           the doorman binary, run as the terminal client (`doorman login|token|logout`)
//                             by the device-grant steps, each with XDG_CONFIG_HOME in a temporary directory
//   E2E_ONLY                  optional, comma-separated step ids (s1,s2,s3,s4,s5,s6,bcl,refresh,dev,
//                             dlogin,dcode,ddeny,dpage,mchooser,msignin,mixup,mdead,mstop) to run a subset
//   E2E_CHROMIUM              optional, the browser binary (default /usr/bin/chromium)
// A scenario whose URL is not set is skipped (not counted). Exit code: 0 when every step that ran passed.
import { execFile, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
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

// ---------- several providers at once: corp (oidc-provider) and partner (oauth2-mock-server) ----------

const multi = {
  base: env.E2E_MULTI_URL,
  corp: env.E2E_CORP_ISSUER,
  partner: env.E2E_PARTNER_ISSUER,
};
const half = { base: env.E2E_HALF_URL, corp: env.E2E_CORP_ISSUER, dead: env.E2E_DEAD_ISSUER };

// One login, "ada", at both providers: two different people (provider.mjs --people corp, partner.mjs).
const CORP_ADA = {
  login: 'ada',
  name: 'Ada Lovelace',
  email: 'ada@corp.example.com',
  picture: 'https://avatars.example.com/ada.png',
  groups: ['ops'],
};
const PARTNER_ADA = {
  login: 'ada',
  name: 'Ada King',
  email: 'ada@partner.example.org',
  picture: 'https://avatars.example.com/ada-king.png',
  groups: [],
};
const LAST_USED = '(used last time on this browser)';
const FAILED_H1 = 'Sign-in could not be completed';

// partner.mjs's login page (its advertised authorization_endpoint): type a login, submit.
async function completePartnerLogin(page, issuer, base, login, { keyboard = false } = {}) {
  await page.waitForURL((u) => u.href.startsWith(`${issuer}/login?`), { waitUntil: 'domcontentloaded' });
  await page.fill('input[name="login"]', login);
  if (keyboard) await page.press('input[name="login"]', 'Enter');
  else await page.click('#partner-submit');
  await page.waitForURL((u) => u.href.startsWith(`${base}/`), { waitUntil: 'domcontentloaded' });
}

// The chooser's buttons in page order: id, text, href and the text of the item around each.
async function chooserButtons(page) {
  return page.evaluate(() => Array.from(document.querySelectorAll('a[id^="provider-"]')).map((a) => ({
    id: a.id,
    text: a.textContent.replace(/\s+/g, ' ').trim(),
    href: a.getAttribute('href'),
    item: (a.closest('li') ?? a.parentElement).textContent.replace(/\s+/g, ' ').trim(),
  })));
}

async function checkChooser(page, expected, where) {
  checkEqual(await page.locator('h1#choose-provider').count(), 1, `${where}: h1#choose-provider count (at ${page.url()})`);
  const buttons = await chooserButtons(page);
  checkEqual(JSON.stringify(buttons.map((b) => b.id)), JSON.stringify(expected.map((e) => `provider-${e.id}`)), `${where}: the buttons, in order`);
  expected.forEach((e, i) => {
    checkEqual(buttons[i].text, `Sign in with ${e.name}`, `${where}: button ${i + 1} text`);
    checkEqual(buttons[i].href, e.href, `${where}: button ${i + 1} href`);
    checkEqual(buttons[i].item.includes(LAST_USED), !!e.last, `${where}: button ${i + 1} (${e.id}) marked "${LAST_USED}"`);
  });
}

// The chooser at one width: no sideways scrolling, every button whole on screen, at least
// 24 px high (WCAG 2.2 target size), none overlapping another; and a screenshot.
async function checkChooserLayout(page, width, file) {
  await page.setViewportSize({ width, height: width < 600 ? 844 : 800 });
  const layout = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    boxes: Array.from(document.querySelectorAll('a[id^="provider-"]')).map((a) => {
      const r = a.getBoundingClientRect();
      return { id: a.id, left: r.left, right: r.right, top: r.top, bottom: r.bottom, height: r.height };
    }),
  }));
  check(layout.scrollWidth <= layout.innerWidth, `chooser at ${width} px scrolls sideways (scrollWidth ${layout.scrollWidth})`);
  for (const b of layout.boxes) {
    check(b.left >= 0 && b.right <= layout.innerWidth, `chooser at ${width} px: ${b.id} is not whole on screen (${b.left}..${b.right})`);
    check(b.height >= 24, `chooser at ${width} px: ${b.id} is ${b.height} px high (< 24)`);
  }
  for (let i = 1; i < layout.boxes.length; i += 1) {
    const [a, b] = [layout.boxes[i - 1], layout.boxes[i]];
    check(b.top >= a.bottom || b.left >= a.right, `chooser at ${width} px: ${a.id} and ${b.id} overlap`);
  }
  await page.screenshot({ path: join(ARTIFACTS, file), fullPage: true });
}

async function checkMultiUser(context, base, person, provider, issuer, where) {
  const res = await context.request.get(`${base}/api/user`, { maxRedirects: 0 });
  const body = await res.text();
  checkEqual(res.status(), 200, `${where} GET /api/user status (body ${body.slice(0, 200)})`);
  const json = JSON.parse(body);
  checkEqual(json.provider, provider, `${where} /api/user provider`);
  checkEqual(json.idp, issuer, `${where} /api/user idp`);
  checkEqual(json.email, person.email, `${where} /api/user email`);
  checkEqual(json.name, person.name, `${where} /api/user name`);
  checkEqual(json.sub, person.login, `${where} /api/user sub (the provider's)`);
  checkEqual(JSON.stringify(json.groups ?? []), JSON.stringify(person.groups), `${where} /api/user groups`);
  return json;
}

// GET with exactly these headers (fetch() adds Sec-Fetch-Mode: cors of its own), as a proxy asking
// forward-auth would send them. Resolves to { status, headers, body }.
function rawGet(url, headers) {
  return new Promise((resolve, reject) => {
    httpGet(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    }).on('error', reject);
  });
}

// Token requests a provider has answered so far ("POST /token -> STATUS" lines in its log).
function tokenRequests(log) {
  if (!log) return [];
  return readFileSync(log, 'utf8').split('\n').filter((l) => /POST \/token -> \d+/.test(l)).map((l) => Number(/-> (\d+)/.exec(l)[1]));
}

// The `detail` of each refused sign-in doorman has logged so far (its JSON log lines with event login_failed).
function loginFailures(log) {
  if (!log) return [];
  return readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"login_failed"')).map((l) => {
    try {
      return JSON.parse(l).detail ?? '';
    } catch {
      return l;
    }
  });
}

// A sign-in at `provider` of doorman-multi, walked at the fetch level with the context's own cookie jar
// (so the flow cookie doorman sets is the browser's), answering the provider's pages; returns the
// provider's answer, the URL of doorman's callback, without delivering it. (A browser cannot be
// stopped there: the answer is a redirect, and Playwright does not route redirects.)
async function heldCallback(context, base, provider, login = 'ada') {
  const { request } = context;
  const issuer = provider === 'corp' ? multi.corp : multi.partner;
  let res = await request.get(`${base}/auth/login?provider=${provider}`, { maxRedirects: 0 });
  checkEqual(res.status(), 303, `GET /auth/login?provider=${provider} status`);
  let url = new URL(res.headers().location ?? '', base);
  for (let i = 0; i < 12; i += 1) {
    if (url.href.startsWith(`${base}/auth/callback/`)) return url;
    check(url.href.startsWith(`${issuer}/`), `sign-in at ${provider} went to ${url.href}`);
    res = await request.get(url.href, { maxRedirects: 0 });
    if (res.status() >= 300 && res.status() < 400) {
      url = new URL(res.headers().location ?? '', url);
      continue;
    }
    const html = await res.text();
    checkEqual(res.status(), 200, `sign-in at ${provider}: ${url.href} (${html.slice(0, 200)})`);
    if (provider === 'partner') {
      // partner.mjs's login page: its form sends the same parameters and the login to /authorize.
      check(html.includes('id="partner-login"'), `sign-in at partner: not its login page at ${url.href}`);
      const next = new URL('/authorize', issuer);
      next.search = url.search;
      next.searchParams.set('login', login);
      url = next;
      continue;
    }
    // oidc-provider's login or consent page.
    const prompt = /name="prompt" value="([a-z]+)"/.exec(html)?.[1];
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&');
    check(prompt && action, `sign-in at corp: no login or consent form at ${url.href}`);
    const form = prompt === 'login' ? { prompt, login, password: 'any password' } : { prompt };
    res = await request.post(new URL(action, url).href, { form, maxRedirects: 0 });
    check(res.status() >= 300 && res.status() < 400, `sign-in at corp: POST ${action} answered ${res.status()}`);
    url = new URL(res.headers().location ?? '', url);
  }
  throw new StepFailure(`sign-in at ${provider}: no answer for doorman after 12 steps (at ${url.href})`);
}

const multiScenarios = [
  {
    id: 'mchooser',
    name: 'multi 1: two providers: / has one "Sign in"; /auth/login is the chooser (one button per provider, next kept, 390 and 1280 px screenshots); ?provider=ID goes straight there, an unknown id is a 400 page, ?providers= narrows it',
    needs: [multi.base, multi.corp, multi.partner],
    async run({ newContext }) {
      const context = await newContext();
      const page = await context.newPage();
      await page.goto(`${multi.base}/`);
      const signIn = page.locator('#sign-in');
      checkEqual(await signIn.count(), 1, '/ #sign-in count');
      checkEqual((await signIn.textContent()).trim(), 'Sign in', '/ #sign-in text');
      checkEqual(await signIn.getAttribute('href'), '/auth/login', '/ #sign-in href');
      checkEqual(await page.locator('a[id^="provider-"]').count(), 0, '/ provider buttons (the chooser is a page of its own)');

      const shown = await page.goto(`${multi.base}/auth/login?next=%2Fprofile`);
      checkEqual(shown.status(), 200, 'GET /auth/login?next=%2Fprofile status');
      check((shown.headers()['content-type'] ?? '').startsWith('text/html'), `chooser content-type ${shown.headers()['content-type']}`);
      await checkChooser(page, [
        { id: 'corp', name: 'Corp SSO', href: '/auth/login?provider=corp&next=%2Fprofile' },
        { id: 'partner', name: 'Partner Inc.', href: '/auth/login?provider=partner&next=%2Fprofile' },
      ], 'chooser (no provider used yet)');
      await checkChooserLayout(page, 390, 'chooser-390.png');
      await checkChooserLayout(page, 1280, 'chooser-1280.png');

      // Straight to a provider: its authorization endpoint, with the redirect URI of its own callback.
      for (const [id, issuer, endpoint] of [['corp', multi.corp, '/auth'], ['partner', multi.partner, '/login']]) {
        const res = await context.request.get(`${multi.base}/auth/login?provider=${id}`, { maxRedirects: 0 });
        checkEqual(res.status(), 303, `GET /auth/login?provider=${id} status`);
        const to = new URL(res.headers().location ?? '');
        checkEqual(`${to.origin}${to.pathname}`, `${issuer}${endpoint}`, `GET /auth/login?provider=${id} goes to that provider`);
        checkEqual(to.searchParams.get('redirect_uri'), `${multi.base}/auth/callback/${id}`, `provider ${id}'s redirect_uri`);
      }
      const unknown = await page.goto(`${multi.base}/auth/login?provider=nosuch`);
      checkEqual(unknown.status(), 400, 'GET /auth/login?provider=nosuch status');
      check((unknown.headers()['content-type'] ?? '').startsWith('text/html'), `unknown provider content-type ${unknown.headers()['content-type']}`);
      // A policy's list: one left goes straight to it, two are the chooser of those two.
      const one = await context.request.get(`${multi.base}/auth/login?providers=partner&next=%2Fprofile`, { maxRedirects: 0 });
      checkEqual(one.status(), 303, 'GET /auth/login?providers=partner status');
      check((one.headers().location ?? '').startsWith(`${multi.partner}/login?`), `?providers=partner went to ${one.headers().location}`);
      const known = await context.request.get(`${multi.base}/auth/login?providers=nosuch,partner`, { maxRedirects: 0 });
      checkEqual(known.status(), 303, 'GET /auth/login?providers=nosuch,partner status (the one known id left)');
      check((known.headers().location ?? '').startsWith(`${multi.partner}/login?`), `?providers=nosuch,partner went to ${known.headers().location}`);
      await page.goto(`${multi.base}/auth/login?providers=corp,partner&rd=${encodeURIComponent(`${multi.base}/app`)}`);
      await checkChooser(page, [
        { id: 'corp', name: 'Corp SSO', href: `/auth/login?provider=corp&rd=${encodeURIComponent(`${multi.base}/app`)}` },
        { id: 'partner', name: 'Partner Inc.', href: `/auth/login?provider=partner&rd=${encodeURIComponent(`${multi.base}/app`)}` },
      ], 'chooser for ?providers=corp,partner&rd=...');
    },
  },
  {
    id: 'msignin',
    name: 'multi 2: keyboard (Tab to the second button, Enter) signs in at partner -> /profile and /api/user say provider partner; the chooser then lists partner first; "ada" at corp is another person; the gateway\'s providers = ["corp"] policy refuses partner\'s session and sends a signed-out browser to corp',
    needs: [multi.base, multi.corp, multi.partner],
    async run({ newContext }) {
      const context = await newContext();
      const page = await context.newPage();
      await page.goto(`${multi.base}/auth/login?next=%2Fprofile`);
      // Keyboard only: Tab to the first button, then to the second, Enter.
      let focused = '';
      for (let i = 0; i < 20 && !focused.startsWith('provider-'); i += 1) {
        await page.keyboard.press('Tab');
        focused = await page.evaluate(() => document.activeElement?.id ?? '');
      }
      checkEqual(focused, 'provider-corp', 'the first provider button Tab reaches');
      await page.keyboard.press('Tab');
      checkEqual(await page.evaluate(() => document.activeElement?.id ?? ''), 'provider-partner', 'focus after one more Tab');
      await page.screenshot({ path: join(ARTIFACTS, 'chooser-keyboard.png') });
      await page.keyboard.press('Enter');
      await completePartnerLogin(page, multi.partner, multi.base, PARTNER_ADA.login, { keyboard: true });
      check(sameUrl(page.url(), `${multi.base}/profile`), `after signing in at partner expected ${multi.base}/profile, got ${page.url()}`);
      await checkIdentityShown(page, PARTNER_ADA, '/profile (partner)');
      const atPartner = await checkMultiUser(context, multi.base, PARTNER_ADA, 'partner', multi.partner, 'signed in at partner:');
      const partnerToken = (await sessionCookie(context, multi.base))?.value;
      check(!!partnerToken, 'no access_token cookie after signing in at partner');

      const last = (await context.cookies(`${multi.base}/auth/login`)).find((c) => c.name === 'doorman_last_provider');
      check(!!last, 'no doorman_last_provider cookie after signing in at partner');
      checkEqual(last.value, 'partner', 'doorman_last_provider value');
      checkEqual(last.path, '/auth/login', 'doorman_last_provider Path');
      await page.goto(`${multi.base}/auth/login`);
      await checkChooser(page, [
        { id: 'partner', name: 'Partner Inc.', href: '/auth/login?provider=partner', last: true },
        { id: 'corp', name: 'Corp SSO', href: '/auth/login?provider=corp' },
      ], 'chooser after signing in at partner');
      await page.screenshot({ path: join(ARTIFACTS, 'chooser-last-used.png'), fullPage: true });

      // The same login at corp: another person, another provider.
      await page.click('#provider-corp');
      await completeProviderInteraction(page, multi.corp, multi.base, CORP_ADA.login);
      check(sameUrl(page.url(), `${multi.base}/`), `after signing in at corp expected ${multi.base}/, got ${page.url()}`);
      await checkIdentityShown(page, CORP_ADA, '/ (corp)');
      const atCorp = await checkMultiUser(context, multi.base, CORP_ADA, 'corp', multi.corp, 'signed in at corp:');
      if (atCorp.uid != null || atPartner.uid != null) {
        check(atCorp.uid !== atPartner.uid, `"ada" at corp and "ada" at partner are one doorman user (uid ${atCorp.uid})`);
      }
      const corpToken = (await sessionCookie(context, multi.base))?.value;
      await page.goto(`${multi.base}/auth/login`);
      await checkChooser(page, [
        { id: 'corp', name: 'Corp SSO', href: '/auth/login?provider=corp', last: true },
        { id: 'partner', name: 'Partner Inc.', href: '/auth/login?provider=partner' },
      ], 'chooser after signing in at corp');

      // The gateway (forward-auth, policy corp-only: providers = ["corp"]).
      const origin = new URL(multi.base);
      const forwarded = {
        'x-forwarded-proto': 'http',
        'x-forwarded-host': origin.host,
        'x-forwarded-uri': '/app/report?x=1',
        'x-forwarded-method': 'GET',
      };
      const ask = (headers) => rawGet(`${multi.base}/.doorman/forward-auth/corp-only`, { ...forwarded, ...headers });
      const asCorp = await ask({ authorization: `Bearer ${corpToken}`, accept: 'application/json' });
      checkEqual(asCorp.status, 200, `forward-auth corp-only with corp's session (body ${asCorp.body.slice(0, 200)})`);
      checkEqual(asCorp.headers['x-doorman-idp'], 'corp', 'forward-auth corp-only X-Doorman-Idp');
      const assertion = asCorp.headers['x-doorman-jwt-assertion'] ?? '';
      const claims = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString() || '{}');
      checkEqual(claims.provider, 'corp', 'the assertion\'s provider claim');
      const asPartner = await ask({ authorization: `Bearer ${partnerToken}`, accept: 'application/json' });
      checkEqual(asPartner.status, 403, `forward-auth corp-only with partner's session (body ${asPartner.body.slice(0, 200)})`);
      checkEqual(JSON.parse(asPartner.body).reason, 'provider_required', 'forward-auth corp-only refusal reason');
      const anonymous = await ask({ 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', accept: 'text/html' });
      check([302, 303].includes(anonymous.status), `forward-auth corp-only for a signed-out navigation: expected a redirect, got ${anonymous.status} (${anonymous.body.slice(0, 200)})`);
      const login = new URL(anonymous.headers.location ?? '', multi.base);
      checkEqual(`${login.origin}${login.pathname}`, `${multi.base}/auth/login`, 'signed-out navigation sent to');
      checkEqual(login.searchParams.get('rd'), `${multi.base}/app/report?x=1`, 'signed-out navigation rd');
      checkEqual(login.searchParams.get('provider'), 'corp', 'signed-out navigation provider');
      const onward = await context.request.get(login.href, { maxRedirects: 0 });
      checkEqual(onward.status(), 303, `GET ${login.pathname}${login.search} status`);
      check((onward.headers().location ?? '').startsWith(`${multi.corp}/auth?`), `the policy's sign-in link went to ${onward.headers().location}, not straight to corp`);
    },
  },
  {
    id: 'mixup',
    name: 'multi 3: mix-up defence with the two real providers: corp\'s answer at partner\'s callback, corp\'s answer with partner\'s iss or none, partner\'s code in corp\'s flow, partner\'s answer with corp\'s iss -> 400 each, no session, no token request but corp refusing the foreign code',
    needs: [multi.base, multi.corp, multi.partner],
    async run({ newContext }) {
      const discovery = await (await fetch(`${multi.corp}/.well-known/openid-configuration`)).json();
      checkEqual(discovery.authorization_response_iss_parameter_supported, true, 'corp (oidc-provider) advertises the iss parameter');
      const context = await newContext();
      const page = await context.newPage();
      const held = (provider) => heldCallback(context, multi.base, provider);
      // Each answer is delivered by the browser, with the flow cookies the context holds.
      // Each refusal: 400, the page, no session cookie, the token requests made, and doorman's reason.
      const refused = async (what, url, why, tokenCalls = { corp: 0, partner: 0 }) => {
        const before = { corp: tokenRequests(env.E2E_CORP_LOG), partner: tokenRequests(env.E2E_PARTNER_LOG) };
        const failuresBefore = loginFailures(env.E2E_MULTI_LOG).length;
        const res = await page.goto(url.href);
        checkEqual(res.status(), 400, `${what}: status`);
        checkEqual(await textOf(page, 'h1', `${what}: page`), FAILED_H1, `${what}: <h1>`);
        check(!(await sessionCookie(context, multi.base)), `${what}: an access_token cookie was set`);
        const after = { corp: tokenRequests(env.E2E_CORP_LOG), partner: tokenRequests(env.E2E_PARTNER_LOG) };
        for (const p of ['corp', 'partner']) {
          checkEqual(after[p].length - before[p].length, tokenCalls[p], `${what}: token requests doorman made to ${p}`);
        }
        if (env.E2E_MULTI_LOG) {
          // The log line may land a moment after the answer.
          let logged = [];
          for (let i = 0; i < 20 && logged.length === 0; i += 1) {
            logged = loginFailures(env.E2E_MULTI_LOG).slice(failuresBefore);
            if (logged.length === 0) await new Promise((r) => setTimeout(r, 50));
          }
          check(logged.length === 1 && logged[0].includes(why), `${what}: doorman's logged reason: expected one containing ${JSON.stringify(why)}, got ${JSON.stringify(logged)}`);
        }
        const api = await context.request.get(`${multi.base}/api/user`, { maxRedirects: 0 });
        checkEqual(api.status(), 401, `${what}: GET /api/user afterwards`);
        return after;
      };

      // (a) corp's answer (code, state, iss) at partner's callback; and partner's at corp's.
      const a = await held('corp');
      checkEqual(a.pathname, '/auth/callback/corp', 'corp answers at its own callback');
      checkEqual(a.searchParams.get('iss'), multi.corp, 'corp\'s answer carries its iss');
      await refused('(a) corp\'s answer delivered to /auth/callback/partner', new URL(`${multi.base}/auth/callback/partner${a.search}`), 'other_provider');
      const a2 = await held('partner');
      checkEqual(a2.pathname, '/auth/callback/partner', 'partner answers at its own callback');
      await refused('(a\') partner\'s answer delivered to /auth/callback/corp', new URL(`${multi.base}/auth/callback/corp${a2.search}`), 'other_provider');

      // (b) corp's answer naming partner as its issuer.
      const b = await held('corp');
      b.searchParams.set('iss', multi.partner);
      await refused('(b) corp\'s answer with iss = partner\'s issuer', b, 'iss_mismatch');

      // (c) corp's answer without iss (corp advertises authorization_response_iss_parameter_supported).
      const c = await held('corp');
      c.searchParams.delete('iss');
      await refused('(c) corp\'s answer without iss', c, 'missing_iss');

      // (d) a code partner issued, in corp's flow (corp's state and flow cookie) at corp's callback:
      // corp's token endpoint is asked, and refuses a code it never issued.
      const mine = await held('corp');
      const foreign = await held('partner');
      mine.searchParams.set('code', foreign.searchParams.get('code'));
      const after = await refused('(d) partner\'s code with corp\'s state and flow cookie at /auth/callback/corp', mine, 'authorization code rejected', { corp: 1, partner: 0 });
      check(after.corp.at(-1) >= 400, `(d) corp's token endpoint answered ${after.corp.at(-1)} to partner's code`);

      // (e) partner's answer (partner sends no iss) naming corp as its issuer.
      const e = await held('partner');
      e.searchParams.set('iss', multi.corp);
      await refused('(e) partner\'s answer with iss = corp\'s issuer', e, 'iss_mismatch');

      // The control: an untouched answer of the same kind signs in.
      const genuine = await held('corp');
      await page.goto(genuine.href);
      check(sameUrl(page.url(), `${multi.base}/`), `the untouched corp answer: expected to land on ${multi.base}/, got ${page.url()}`);
      await checkMultiUser(context, multi.base, CORP_ADA, 'corp', multi.corp, 'the untouched corp answer:');
    },
  },
  {
    id: 'mdead',
    name: 'multi 4: a second provider nobody listens at (not required): /readyz 200 with its checks failing, /healthz says discovering, ?provider= it is a 503 page within 5 s, sign-in through corp still works',
    needs: [half.base, half.corp, half.dead],
    async run({ newContext }) {
      const ready = await fetch(`${half.base}/readyz`);
      const readyBody = await ready.text();
      checkEqual(ready.status, 200, `/readyz status (body ${readyBody})`);
      const checks = JSON.parse(readyBody).checks ?? {};
      checkEqual(
        JSON.stringify(Object.keys(checks).filter((k) => k.startsWith('provider')).sort()),
        JSON.stringify(['provider_corp_discovery', 'provider_corp_keys', 'provider_partner_discovery', 'provider_partner_keys']),
        '/readyz provider checks',
      );
      for (const name of ['provider_partner_discovery', 'provider_partner_keys']) {
        checkEqual(checks[name]?.ok, false, `/readyz ${name} ok`);
        checkEqual(checks[name]?.required, false, `/readyz ${name} required`);
      }
      checkEqual(checks.provider_corp_discovery?.ok, true, '/readyz provider_corp_discovery ok');
      const health = JSON.parse(await (await fetch(`${half.base}/healthz`)).text());
      checkEqual(JSON.stringify(health.providers), JSON.stringify({ corp: 'ready', partner: 'discovering' }), '/healthz providers');

      const context = await newContext();
      const page = await context.newPage();
      const started = Date.now();
      const res = await page.goto(`${half.base}/auth/login?provider=partner`);
      const ms = Date.now() - started;
      checkEqual(res.status(), 503, 'GET /auth/login?provider=partner (nobody listening) status');
      check((res.headers()['content-type'] ?? '').startsWith('text/html'), `its content-type ${res.headers()['content-type']}`);
      check(ms <= 5_000, `GET /auth/login?provider=partner took ${ms} ms`);
      await page.screenshot({ path: join(ARTIFACTS, 'provider-unavailable.png'), fullPage: true });

      await page.goto(`${half.base}/auth/login`);
      await page.click('#provider-corp');
      await completeProviderInteraction(page, half.corp, half.base, CORP_ADA.login);
      check(sameUrl(page.url(), `${half.base}/`), `after signing in at corp expected ${half.base}/, got ${page.url()}`);
      await checkMultiUser(context, half.base, CORP_ADA, 'corp', half.corp, 'beside a dead provider:');
    },
  },
  {
    id: 'mstop',
    name: 'multi 5: partner\'s process is stopped; corp keeps signing people in at the same doorman, /readyz stays 200',
    needs: [multi.base, multi.corp, multi.partner, env.E2E_PARTNER_PID],
    async run({ newContext }) {
      process.kill(Number(env.E2E_PARTNER_PID), 'SIGTERM');
      const deadline = Date.now() + 5_000;
      let down = false;
      while (!down && Date.now() < deadline) {
        down = await fetch(`${multi.partner}/.well-known/openid-configuration`).then(() => false, () => true);
        if (!down) await new Promise((r) => setTimeout(r, 100));
      }
      check(down, 'partner still answers 5 s after SIGTERM');
      const context = await newContext();
      const page = await context.newPage();
      await page.goto(`${multi.base}/auth/login`);
      await page.click('#provider-corp');
      await completeProviderInteraction(page, multi.corp, multi.base, 'grace');
      check(sameUrl(page.url(), `${multi.base}/`), `after signing in at corp expected ${multi.base}/, got ${page.url()}`);
      await checkMultiUser(context, multi.base, {
        login: 'grace', name: 'Grace Hopper', email: 'grace@corp.example.com', groups: ['platform'],
      }, 'corp', multi.corp, 'partner stopped:');
      const ready = await fetch(`${multi.base}/readyz`);
      checkEqual(ready.status, 200, `/readyz with partner stopped (body ${await ready.text()})`);
    },
  },
];
// ---------- signing in from a terminal: `doorman login` (the device grant, RFC 8628) ----------

const DOORMAN_BIN = env.E2E_DOORMAN_BIN;
const dev = { base: env.E2E_DOORMAN_DEV_URL };
const DEV_ADA = { name: 'Ada Lovelace', email: 'ada@example.com' };
const DEVICE_WARNING = 'Only approve a code you started yourself.';

// A terminal of its own: an empty temporary directory as HOME and XDG_CONFIG_HOME, in which
// `doorman login|token|logout` run. `stop()` kills a login still running and removes the directory.
function terminal() {
  const home = mkdtempSync(join(tmpdir(), 'doorman-e2e-cli-'));
  const cliEnv = { PATH: env.PATH, HOME: home, XDG_CONFIG_HOME: home, NO_COLOR: '1' };
  const children = [];
  return {
    home,
    credentials: join(home, 'doorman', 'credentials.json'),
    // `doorman ARGS...` to its end: { code, stdout, stderr }.
    run(...args) {
      return new Promise((resolve) => {
        execFile(DOORMAN_BIN, args, { env: cliEnv, timeout: 20_000 }, (err, stdout, stderr) => {
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
        });
      });
    },
    // `doorman login BASE` as a child process: `prompt` resolves with what it printed once it
    // shows the code ({ uri, code, complete, stdout }), `exited` with { code, stdout, stderr }.
    login(base) {
      const child = spawn(DOORMAN_BIN, ['login', base], { env: cliEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let stdout = '';
      let stderr = '';
      const exited = new Promise((resolve) => {
        child.on('close', (code, signal) => resolve({ code: code ?? signal, stdout, stderr }));
      });
      const prompt = new Promise((resolve, reject) => {
        child.stdout.setEncoding('utf8');
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (d) => { stderr += d; });
        child.stdout.on('data', (d) => {
          stdout += d;
          const m = /^To sign in, open (\S+) in any browser and enter the code\n\n {4}([A-Z]{4}-[A-Z]{4})\n\nor open (\S+)\n/.exec(stdout);
          if (m) resolve({ uri: m[1], code: m[2], complete: m[3], stdout });
        });
        child.on('error', (err) => reject(new StepFailure(`could not run ${DOORMAN_BIN} login: ${err.message}`)));
        exited.then(({ code }) => reject(new StepFailure(
          `doorman login ${base} ended (exit ${code}) before printing a code: stdout ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr)}`,
        )));
      });
      return { prompt, exited };
    },
    stop() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      rmSync(home, { recursive: true, force: true });
    },
  };
}

// The login's end, within `ms` (it polls every 5 s).
async function loginEnd(login, ms = 12_000) {
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms); });
  const end = await Promise.race([login.exited, late]);
  clearTimeout(timer);
  check(end, `doorman login had not ended ${ms / 1000} s after the browser's decision`);
  return end;
}

// What doorman login printed first: the two URLs and the code, for `base`.
function checkPrompt(prompt, base) {
  checkEqual(prompt.uri, `${base}/device`, 'doorman login: the URL to open (verification_uri)');
  checkEqual(prompt.complete, `${base}/device?code=${prompt.code}`, 'doorman login: "or open" (verification_uri_complete)');
  check(
    prompt.stdout.includes(`Only a person signed in to ${base} can approve it; the code expires in 10 minutes.`),
    `doorman login: no "Only a person signed in to ${base} ..." line: ${JSON.stringify(prompt.stdout)}`,
  );
}

// The dev provider's form (on a page that just went there): sign in as `person`.
async function devProviderSignIn(page, base, person) {
  await page.waitForURL((u) => u.href.startsWith(`${base}/dev-oidc/authorize?`), { waitUntil: 'domcontentloaded' });
  await page.fill('input[name="name"]', person.name);
  await page.fill('input[name="email"]', person.email);
  await page.click('#dev-sign-in');
  await page.waitForURL((u) => !u.href.startsWith(`${base}/dev-oidc/`) && !u.pathname.startsWith('/auth/'), {
    waitUntil: 'domcontentloaded',
  });
}

// The confirm page for `code`: heading, code, warning, where the request came from.
async function checkConfirmPage(page, code, person, agent) {
  checkEqual(
    await textOf(page, 'h1#device-confirm', 'confirm page heading'),
    `Sign in a device as ${person.name}?`,
    'confirm page h1#device-confirm',
  );
  checkEqual(await textOf(page, '#device-code', 'confirm page code'), code, 'confirm page #device-code');
  const warning = await textOf(page, '#device-warning', 'confirm page warning');
  check(warning.startsWith(DEVICE_WARNING), `#device-warning should start with ${JSON.stringify(DEVICE_WARNING)}: ${JSON.stringify(warning)}`);
  checkEqual(await textOf(page, '#device-address', 'confirm page address'), '127.0.0.1', 'confirm page #device-address');
  const shownAgent = await textOf(page, '#device-agent', 'confirm page program');
  if (typeof agent === 'string') checkEqual(shownAgent, agent, 'confirm page #device-agent');
  else check(agent.test(shownAgent), `confirm page #device-agent ${JSON.stringify(shownAgent)} does not match ${agent}`);
  const requested = await textOf(page, '#device-requested', 'confirm page time');
  check(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/.test(requested), `confirm page #device-requested: ${JSON.stringify(requested)}`);
  checkEqual(await page.locator('#device-approve').count(), 1, 'confirm page #device-approve count');
  checkEqual(await page.locator('#device-deny').count(), 1, 'confirm page #device-deny count');
}

// Press one of the confirm page's buttons: the page that comes is h1#device-approved or h1#device-denied.
async function decideOnPage(page, button) {
  const answer = page.waitForResponse((r) => r.url().endsWith('/device') && r.request().method() === 'POST');
  await page.click(button);
  const res = await answer;
  await page.waitForLoadState('domcontentloaded');
  checkEqual(res.status(), 200, `POST /device from ${button} status`);
  const done = button === '#device-approve' ? 'h1#device-approved' : 'h1#device-denied';
  checkEqual(await page.locator(done).count(), 1, `after ${button}: ${done} count (at ${page.url()})`);
}

const cliAgent = /^doorman-cli\/\d+\.\d+\.\d+\S* on \S+$/;

const deviceScenarios = [
  {
    id: 'dlogin',
    name: 'terminal 1: doorman login against the development provider; verification_uri_complete opened signed out -> sign in -> back on the confirm page -> Approve; the CLI says who, keeps the tokens 0600; doorman token works as Bearer; doorman logout ends it (401)',
    needs: [dev.base, DOORMAN_BIN],
    async run({ newContext }) {
      const t = terminal();
      try {
        const login = t.login(dev.base);
        const prompt = await login.prompt;
        checkPrompt(prompt, dev.base);

        const context = await newContext();
        // Signed out, /device?code= sends the browser to sign in, and sign-in brings it back.
        const direct = await context.request.get(prompt.complete, { maxRedirects: 0 });
        checkEqual(direct.status(), 303, 'signed-out GET /device?code= status');
        const location = new URL(direct.headers().location ?? '', `${dev.base}/`);
        checkEqual(location.pathname, '/auth/login', 'signed-out GET /device?code= goes to');
        checkEqual(location.searchParams.get('next'), `/device?code=${prompt.code}`, 'signed-out GET /device?code= next');
        const page = await context.newPage();
        await page.goto(prompt.complete);
        await devProviderSignIn(page, dev.base, DEV_ADA);
        check(sameUrl(page.url(), prompt.complete), `after sign-in expected to be back on ${prompt.complete}, got ${page.url()}`);
        await checkConfirmPage(page, prompt.code, DEV_ADA, cliAgent);
        await decideOnPage(page, '#device-approve');
        await page.screenshot({ path: join(ARTIFACTS, 'device-approved.png'), fullPage: true });

        const end = await loginEnd(login);
        checkEqual(end.code, 0, `doorman login exit code (stderr ${JSON.stringify(end.stderr)})`);
        check(end.stdout.includes(`\nSigned in to ${dev.base} as ${DEV_ADA.email}.\n`), `doorman login did not say "Signed in to ${dev.base} as ${DEV_ADA.email}.": ${JSON.stringify(end.stdout)}`);
        check(end.stdout.includes(`Tokens saved in ${t.credentials};`), `doorman login did not name ${t.credentials}: ${JSON.stringify(end.stdout)}`);
        checkEqual((statSync(t.credentials).mode & 0o777).toString(8), '600', `mode of ${t.credentials}`);
        checkEqual((statSync(join(t.home, 'doorman')).mode & 0o777).toString(8), '700', 'mode of its directory');
        const saved = JSON.parse(readFileSync(t.credentials, 'utf8'));
        checkEqual(JSON.stringify(Object.keys(saved.sessions ?? {})), JSON.stringify([dev.base]), 'the doormans in credentials.json');

        const token = await t.run('token');
        checkEqual(token.code, 0, `doorman token exit code (stderr ${JSON.stringify(token.stderr)})`);
        const accessToken = token.stdout.trim();
        checkEqual(accessToken, saved.sessions[dev.base].access_token, 'doorman token prints the saved access token');
        const bearer = { authorization: `Bearer ${accessToken}` };
        const fresh = await newContext(); // no cookie: the token alone
        const api = await fresh.request.get(`${dev.base}/api/user`, { headers: bearer, maxRedirects: 0 });
        const body = await api.text();
        checkEqual(api.status(), 200, `GET /api/user with the token as Bearer (body ${body.slice(0, 200)})`);
        checkEqual(JSON.parse(body).email, DEV_ADA.email, '/api/user email with the device token');
        // Its own session: the browser's is another one.
        const browserUser = await checkApiUser(context, dev.base, { ...DEV_ADA, picture: undefined }, 'the approving browser');
        check(JSON.parse(body).sid !== browserUser.sid || browserUser.sid === undefined, 'the device token shares the browser\'s session id');

        const logout = await t.run('logout');
        checkEqual(logout.code, 0, `doorman logout exit code (stderr ${JSON.stringify(logout.stderr)})`);
        check(logout.stdout.includes(`Signed out of ${dev.base}`), `doorman logout said ${JSON.stringify(logout.stdout)}`);
        const after = await fresh.request.get(`${dev.base}/api/user`, { headers: bearer, maxRedirects: 0 });
        checkEqual(after.status(), 401, 'GET /api/user with the token after doorman logout');
        checkEqual(JSON.stringify(JSON.parse(readFileSync(t.credentials, 'utf8')).sessions), '{}', 'credentials.json after doorman logout');
        const again = await t.run('token');
        checkEqual(again.code, 1, 'doorman token after doorman logout exit code');
        check(again.stderr.startsWith('doorman: '), `doorman token after logout: stderr ${JSON.stringify(again.stderr)}`);
        // The browser's own session is untouched.
        await checkApiUser(context, dev.base, { ...DEV_ADA, picture: undefined }, 'the approving browser after doorman logout');
      } finally {
        t.stop();
      }
    },
  },
  {
    id: 'dcode',
    name: 'terminal 2: doorman login against the oidc-provider doorman; /device signed out -> the provider -> the entry form; the code typed in lower case without the dash -> Approve; the token carries the approving session\'s groups, also after doorman token refreshes it',
    needs: [main.base, main.issuer, DOORMAN_BIN],
    async run({ newContext }) {
      const t = terminal();
      try {
        const login = t.login(main.base);
        const prompt = await login.prompt;
        checkPrompt(prompt, main.base);

        const context = await newContext();
        const page = await context.newPage();
        await page.goto(prompt.uri);
        await waitForProviderLogin(page, main.issuer);
        await completeProviderInteraction(page, main.issuer, main.base, GRACE.login);
        await page.waitForLoadState('domcontentloaded');
        check(sameUrl(page.url(), prompt.uri), `after sign-in expected to be back on ${prompt.uri}, got ${page.url()}`);
        checkEqual(await page.locator('h1#device-enter').count(), 1, `the entry form's h1#device-enter (at ${page.url()})`);
        checkEqual(await page.locator('#device-problem').count(), 0, 'the entry form shows no problem yet');
        const typed = prompt.code.replace('-', '').toLowerCase();
        await page.fill('#user-code', typed);
        await page.click('#device-continue');
        await page.waitForURL((u) => u.pathname === '/device' && u.searchParams.has('code'), { waitUntil: 'domcontentloaded' });
        await checkConfirmPage(page, prompt.code, GRACE, cliAgent);
        await decideOnPage(page, '#device-approve');

        const end = await loginEnd(login);
        checkEqual(end.code, 0, `doorman login exit code (stderr ${JSON.stringify(end.stderr)})`);
        check(end.stdout.includes(`\nSigned in to ${main.base} as ${GRACE.email}.\n`), `doorman login did not say "Signed in to ${main.base} as ${GRACE.email}.": ${JSON.stringify(end.stdout)}`);
        checkEqual((statSync(t.credentials).mode & 0o777).toString(8), '600', `mode of ${t.credentials}`);

        const fresh = await newContext();
        const asBearer = async (token, what) => {
          const res = await fresh.request.get(`${main.base}/api/user`, { headers: { authorization: `Bearer ${token}` }, maxRedirects: 0 });
          const body = await res.text();
          checkEqual(res.status(), 200, `${what}: GET /api/user as Bearer (body ${body.slice(0, 200)})`);
          const json = JSON.parse(body);
          checkEqual(json.email, GRACE.email, `${what}: /api/user email`);
          checkEqual(JSON.stringify(json.groups), JSON.stringify(GRACE.groups), `${what}: /api/user groups (the approving session's)`);
          return json;
        };
        const first = await t.run('token', main.base);
        checkEqual(first.code, 0, `doorman token exit code (stderr ${JSON.stringify(first.stderr)})`);
        await asBearer(first.stdout.trim(), 'the device token');
        // Close to its expiry (as the file says), `doorman token` refreshes first.
        const saved = JSON.parse(readFileSync(t.credentials, 'utf8'));
        saved.sessions[main.base].expires_at = Math.floor(Date.now() / 1000) + 10;
        writeFileSync(t.credentials, JSON.stringify(saved));
        const refreshed = await t.run('token');
        checkEqual(refreshed.code, 0, `doorman token (refreshing) exit code (stderr ${JSON.stringify(refreshed.stderr)})`);
        const second = refreshed.stdout.trim();
        check(second !== first.stdout.trim(), 'doorman token close to expiry printed the old token: no refresh');
        const resaved = JSON.parse(readFileSync(t.credentials, 'utf8')).sessions[main.base];
        checkEqual(resaved.access_token, second, 'the refreshed token is saved');
        check(resaved.refresh_token !== saved.sessions[main.base].refresh_token, 'the refresh token was not rotated');
        await asBearer(second, 'the refreshed device token');
        const logout = await t.run('logout', main.base);
        checkEqual(logout.code, 0, `doorman logout exit code (stderr ${JSON.stringify(logout.stderr)})`);
      } finally {
        t.stop();
      }
    },
  },
  {
    id: 'ddeny',
    name: 'terminal 3: Deny at the confirm page -> h1#device-denied, doorman login exits 1 saying it was denied, nothing saved',
    needs: [dev.base, DOORMAN_BIN],
    async run({ newContext }) {
      const t = terminal();
      try {
        const login = t.login(dev.base);
        const prompt = await login.prompt;
        const context = await newContext();
        const page = await context.newPage();
        await page.goto(prompt.complete);
        await devProviderSignIn(page, dev.base, DEV_ADA);
        await checkConfirmPage(page, prompt.code, DEV_ADA, cliAgent);
        await decideOnPage(page, '#device-deny');
        const end = await loginEnd(login);
        checkEqual(end.code, 1, `doorman login exit code after Deny (stdout ${JSON.stringify(end.stdout)})`);
        check(/^doorman: .*denied/.test(end.stderr), `doorman login's stderr after Deny: ${JSON.stringify(end.stderr)}`);
        check(!end.stdout.includes('Signed in'), `doorman login said it signed in: ${JSON.stringify(end.stdout)}`);
        check(!existsSync(t.credentials), `${t.credentials} exists after Deny`);
        // The code is spent: the same URL now shows the entry form with the problem.
        const reused = await page.goto(prompt.complete);
        checkEqual(reused.status(), 400, 'GET verification_uri_complete after Deny status');
        await textOf(page, 'p#device-problem', 'entry form after Deny');
      } finally {
        t.stop();
      }
    },
  },
  {
    id: 'dpage',
    name: 'terminal 4: the confirm page: the pages\' security headers (CSP with frame-ancestors \'none\', X-Frame-Options DENY, Cache-Control no-store, nosniff), the program name shown as text, a cross-site POST refused and deciding nothing, whole at 390 px (screenshot)',
    needs: [dev.base],
    async run({ newContext }) {
      // A request from a "terminal" whose program name is markup: the page must show it as text.
      const agent = 'evil-cli/1.0 <img id="injected" src=x onerror="document.title=1">';
      const started = await fetch(`${dev.base}/auth/device`, { method: 'POST', headers: { 'user-agent': agent } });
      checkEqual(started.status, 200, 'POST /auth/device status');
      const grant = await started.json();
      check(/^[A-Z]{4}-[A-Z]{4}$/.test(grant.user_code), `user_code ${grant.user_code}`);
      checkEqual(grant.verification_uri_complete, `${dev.base}/device?code=${grant.user_code}`, 'verification_uri_complete');
      checkEqual(grant.expires_in, 600, 'expires_in');
      checkEqual(grant.interval, 5, 'interval');

      const context = await newContext();
      const page = await context.newPage();
      await page.goto(grant.verification_uri_complete);
      await devProviderSignIn(page, dev.base, DEV_ADA);
      const res = await page.reload();
      checkEqual(res.status(), 200, 'GET /device?code= status');
      await checkConfirmPage(page, grant.user_code, DEV_ADA, agent);
      checkEqual(await page.locator('#injected').count(), 0, 'an element from the program name');
      const h = res.headers();
      check((h['content-type'] ?? '').startsWith('text/html'), `content-type ${h['content-type']}`);
      const csp = h['content-security-policy'] ?? '';
      check(csp.includes("frame-ancestors 'none'"), `Content-Security-Policy without frame-ancestors 'none': ${JSON.stringify(csp)}`);
      check(csp.includes("default-src 'self'"), `Content-Security-Policy without default-src 'self': ${JSON.stringify(csp)}`);
      checkEqual(h['x-frame-options'], 'DENY', 'X-Frame-Options');
      check((h['cache-control'] ?? '').includes('no-store'), `Cache-Control without no-store: ${JSON.stringify(h['cache-control'])}`);
      checkEqual(h['x-content-type-options'], 'nosniff', 'X-Content-Type-Options');
      check(!!h['referrer-policy'], 'no Referrer-Policy');
      check(!(h['set-cookie'] ?? '').includes('Domain='), `a cookie with Domain on the page: ${h['set-cookie']}`);

      // A POST from another site (a forged form) is refused and decides nothing.
      const forged = await context.request.post(`${dev.base}/device`, {
        form: { code: grant.user_code, action: 'approve' },
        headers: { origin: 'http://evil.example' },
        maxRedirects: 0,
      });
      checkEqual(forged.status(), 403, 'POST /device with Origin: http://evil.example');
      const poll = await fetch(`${dev.base}/auth/device/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: grant.device_code }),
      });
      checkEqual((await poll.json()).error, 'authorization_pending', 'the poll after the forged POST');

      // At 390 px: no sideways scroll, the two buttons whole, at least 24 px high, not overlapping.
      await page.setViewportSize({ width: 390, height: 844 });
      const layout = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        boxes: ['#device-approve', '#device-deny', '#device-warning', '#device-agent'].map((sel) => {
          const r = document.querySelector(sel).getBoundingClientRect();
          return { sel, left: r.left, right: r.right, top: r.top, bottom: r.bottom, height: r.height };
        }),
      }));
      check(layout.scrollWidth <= layout.innerWidth, `confirm page at 390 px scrolls sideways (scrollWidth ${layout.scrollWidth})`);
      for (const b of layout.boxes) {
        check(b.left >= 0 && b.right <= layout.innerWidth, `confirm page at 390 px: ${b.sel} is not whole on screen (${b.left}..${b.right})`);
      }
      const [approve, deny] = layout.boxes;
      for (const b of [approve, deny]) check(b.height >= 24, `confirm page at 390 px: ${b.sel} is ${b.height} px high (< 24)`);
      check(deny.top >= approve.bottom || deny.left >= approve.right, 'confirm page at 390 px: Approve and Deny overlap');
      await page.screenshot({ path: join(ARTIFACTS, 'device-confirm-390.png'), fullPage: true });
      await decideOnPage(page, '#device-deny');
    },
  },
];

scenarios.push(...deviceScenarios, ...multiScenarios);

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
