// The loopback redirect URI of the npm SDK clients (node-client.mjs, gateway-client.mjs):
// an http server on 127.0.0.1 that takes the browser's one GET /callback?code=…&state=…&iss=…
// (or ?error=…), shows a short page, and hands the query to the client.
import { createServer } from 'node:http';

/**
 * Starts the receiver on a free port. Resolves with `redirectUrl`
 * (http://127.0.0.1:PORT/callback), `callback` (a promise of the first callback's
 * query parameters) and `close()`.
 */
export async function startRedirectReceiver() {
  let deliver;
  const callback = new Promise((resolve) => {
    deliver = resolve;
  });
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    const q = Object.fromEntries(url.searchParams);
    const text = q.error ? 'Not authorized' : 'You can close this window and go back to the app.';
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>${q.error ? 'Not authorized' : 'Authorized'}</title><p data-testid="client-callback">${text}</p>`);
    deliver(q);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    redirectUrl: `http://127.0.0.1:${server.address().port}/callback`,
    callback,
    close() {
      server.close();
      server.closeAllConnections();
    },
  };
}
