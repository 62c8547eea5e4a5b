// Requests written line by line, and what the upstream's echo (upstream.py) shows of them, for
// tests/gateway/scenarios.mjs: the checks that a proxy passes the app exactly the header lines
// it should (two Cookie lines stay two lines here; Node's own client would join them).
import { connect } from 'node:net';

// One request written line by line, as sent (Node's client would join two Cookie lines): each
// of `lines` is [name, value]. Connection: close, so the answer ends with the connection.
export function rawRequest(url, lines, { host } = {}) {
  const u = new URL(url);
  const head = [`GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${host ?? u.host}`, ...lines.map(([k, v]) => `${k}: ${v}`), 'Connection: close'];
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(u.port) }, () => socket.write(`${head.join('\r\n')}\r\n\r\n`));
    const chunks = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.setTimeout(15_000, () => socket.destroy(new Error(`timeout: GET ${url}`)));
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const [status, ...fields] = text.slice(0, split < 0 ? text.length : split).split('\r\n');
      const headers = {};
      for (const f of fields) headers[f.slice(0, f.indexOf(':')).toLowerCase()] = f.slice(f.indexOf(':') + 1).trim();
      let body = split < 0 ? '' : text.slice(split + 4);
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        let out = '';
        for (let at = 0; ;) {
          const eol = body.indexOf('\r\n', at);
          const size = parseInt(body.slice(at, eol), 16);
          if (!size) break;
          out += body.slice(eol + 2, eol + 2 + size);
          at = eol + 2 + size + 2;
        }
        body = out;
      }
      resolve({ status: Number(status.split(' ')[1]), headers, body });
    });
  });
}

// The upstream's header lines named `name` (any case), in order.
function received(echo, name) {
  return echo.lines.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
}

// What is wrong with the upstream's echo `r` of a signed-in request: the app's `name` lines
// are not `expected`, or some header carries doorman's cookie or `token` (named, never shown).
export function whatTheAppGot(r, what, token, name, expected) {
  if (r.status !== 200) return [`${what}: status ${r.status}, not 200`];
  let echo;
  try {
    echo = JSON.parse(r.body);
  } catch {
    return [`${what}: not the upstream's echo`];
  }
  const problems = [];
  if (echo.headers['x-doorman-email'] !== 'ada@example.com') problems.push(`${what}: no identity`);
  const got = JSON.stringify(received(echo, name)).replaceAll(token, '<token>');
  if (got !== JSON.stringify(expected)) problems.push(`${what}: the app's ${name} ${got}, expected ${JSON.stringify(expected)}`);
  const leaked = echo.lines
    .filter(([, v]) => v.includes(token) || /(^|[;\s])(__Host-|__Secure-)?(access_token|doorman_flow_[^=;]*)\s*=/.test(v))
    .map(([k]) => k);
  if (leaked.length) problems.push(`${what}: doorman's cookie or token reached the app in ${leaked.join(', ')}`);
  return problems;
}
