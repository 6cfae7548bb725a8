// Test users shared by the OIDC and SAML test identity providers (end2end only).
// Account id (OIDC `sub`) => claims. Never used outside the browser tests.

export const USERS = Object.freeze({
  alice: { email: 'alice@acme.test', email_verified: true, name: 'Alice Admin', groups: ['portcullis-admins', 'engineering'] },
  olga: { email: 'olga@acme.test', email_verified: true, name: 'Olga Owner', groups: ['portcullis-owners'] },
  aud: { email: 'audrey@acme.test', email_verified: true, name: 'Audrey Auditor', groups: ['portcullis-auditors'] },
  bob: { email: 'bob@acme.test', email_verified: true, name: 'Bob Nobody', groups: ['engineering'] },
  eve: { email: 'eve@acme.test', email_verified: false, name: 'Eve Unverified', groups: ['portcullis-admins'] },
  mallory: { email: 'mallory@acme.test', email_verified: true, name: '<script>alert(1)</script>Mallory', groups: ['portcullis-admins'] },
});

export function escapeHtml(value) {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

export const PAGE_STYLE = `
  body { font-family: system-ui, sans-serif; background: #f4f5f7; color: #1f2328; margin: 0; }
  main { max-width: 26rem; margin: 4rem auto; background: #fff; border: 1px solid #d0d7de;
         border-radius: 8px; padding: 1.5rem 2rem; box-shadow: 0 1px 3px rgba(0,0,0,.06); }
  h1 { font-size: 1.25rem; margin: 0 0 .25rem; }
  p { color: #57606a; margin: 0 0 1.25rem; font-size: .9rem; }
  form { display: flex; flex-direction: column; gap: .5rem; }
  button { font: inherit; padding: .6rem .9rem; border: 1px solid #d0d7de; border-radius: 6px;
           background: #f6f8fa; cursor: pointer; text-align: left; }
  button:hover, button:focus { background: #eaeef2; }
`;

// Reads a small application/x-www-form-urlencoded body (max 1 MiB).
export function readForm(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > 1024 * 1024) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}
