// What the gateway suite's step files share: a step's failure and its checks, and a plain
// HTTP client that talks to 127.0.0.1 with the app's Host, as curl --resolve would.
import { request as httpRequest } from 'node:http';

export class StepFailure extends Error {}

export function check(condition, message) {
  if (!condition) throw new StepFailure(message);
}

export function checkEqual(actual, expected, what) {
  check(actual === expected, `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

// What a failed step's result line says: a check's message, or the first lines of a crash.
export function failureReason(err) {
  return (err instanceof StepFailure ? err.message : err.stack ?? String(err)).split('\n').slice(0, 3).join(' ');
}

export function fetchApp(url, { method = 'GET', headers = {}, body = null } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: u.port, path: u.pathname + u.search, method, headers: { host: u.host, ...headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.end(body ?? undefined);
  });
}

export function json(response, what) {
  try {
    return JSON.parse(response.body);
  } catch {
    throw new StepFailure(`${what}: not JSON (status ${response.status}): ${response.body.slice(0, 200)}`);
  }
}
