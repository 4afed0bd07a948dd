/**
 * The partner developer portal's page for one tenant: what a partner needs to connect — the
 * FHIR base, the token URL, scopes and signing algorithms, a step-by-step guide to the client
 * assertion (with `payer-fhir token` and with curl), links to discovery, and the Postman files.
 * Every value is HTML-escaped; the page has no script and only its own stylesheet.
 */
import { ASSERTION_ALGORITHMS } from '../auth/client-assertion.js';
import { SCOPES_SUPPORTED } from '../auth/discovery.js';
import { fhirBase, tokenUrl } from '../http/urls.js';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

// Focusable, so a keyboard can scroll a long line sideways.
const code = (s: string) => `<pre tabindex="0"><code>${escapeHtml(s)}</code></pre>`;
const link = (href: string, text = href) => `<a href="${escapeHtml(href)}">${escapeHtml(text)}</a>`;

export function portalPage(publicUrl: string, tenant: string): string {
  const base = fhirBase(publicUrl, tenant);
  const token = tokenUrl(publicUrl, tenant);
  const here = `${publicUrl}/developers/${tenant}`;
  const curlAssertion = [
    '# 1. Header and claims of the client assertion (iss = sub = your client id, aud = the token URL)',
    `HEADER='{"alg":"ES384","kid":"YOUR_KEY_ID","typ":"JWT"}'`,
    `CLAIMS="{\\"iss\\":\\"$CLIENT_ID\\",\\"sub\\":\\"$CLIENT_ID\\",\\"aud\\":\\"${token}\\",\\"exp\\":$(( $(date +%s) + 240 )),\\"jti\\":\\"$(uuidgen)\\"}"`,
    '# 2. Sign it with your private key (any JOSE library; or let payer-fhir do steps 1-3: see above)',
    'ASSERTION=$(your-jwt-signer --alg ES384 --key private.jwk "$HEADER" "$CLAIMS")',
    '# 3. Exchange it for an access token',
    `TOKEN=$(curl -s -X POST '${token}' \\`,
    `  -d grant_type=client_credentials -d 'scope=system/*.rs' \\`,
    `  -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \\`,
    `  -d "client_assertion=$ASSERTION" | jq -r .access_token)`,
  ].join('\n');
  const curlUse = [
    `curl -s -H "Authorization: Bearer $TOKEN" '${base}/Patient?_count=5'`,
    `curl -s -H "Authorization: Bearer $TOKEN" '${base}/ExplanationOfBenefit?patient=PATIENT_ID&_include=ExplanationOfBenefit:coverage'`,
    '# Bulk export: kick off, poll the Content-Location at the Retry-After given, download each file',
    `STATUS=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Accept: application/fhir+json' -H 'Prefer: respond-async' '${base}/Patient/$export' | awk 'tolower($1)=="content-location:"{print $2}' | tr -d '\\r')`,
    'curl -s -H "Authorization: Bearer $TOKEN" "$STATUS"    # 202 while running, 200 with the manifest',
    'curl -s -H "Authorization: Bearer $TOKEN" -H "Accept: application/fhir+ndjson" FILE_URL_FROM_THE_MANIFEST',
  ].join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Connect to the Payer System Access API — ${escapeHtml(tenant)}</title>
<link rel="stylesheet" href="/developers/portal.css">
</head>
<body>
<header><p class="eyebrow">Partner developer portal</p><h1>Connect to the Payer System Access API</h1><p>Tenant <strong>${escapeHtml(tenant)}</strong> · FHIR R4 · SMART Backend Services · Bulk Data 2.0</p></header>
<main>
<section aria-labelledby="endpoints"><h2 id="endpoints">Endpoints</h2>
<dl>
<dt>FHIR base</dt><dd><code>${escapeHtml(base)}</code></dd>
<dt>Token URL</dt><dd><code>${escapeHtml(token)}</code></dd>
<dt>CapabilityStatement</dt><dd>${link(`${base}/metadata`)}</dd>
<dt>SMART configuration</dt><dd>${link(`${base}/.well-known/smart-configuration`)}</dd>
</dl></section>
<section aria-labelledby="auth"><h2 id="auth">Authentication</h2>
<p>Backend systems authenticate with OAuth 2.0 client credentials: a JWT client assertion signed with your private key (<code>private_key_jwt</code>), or a client secret issued by the payer.</p>
<h3>Signing algorithms</h3><ul class="chips">${ASSERTION_ALGORITHMS.map((a) => `<li>${escapeHtml(a)}</li>`).join('')}</ul>
<h3>Scopes</h3><p>SMART <code>system/</code> scopes, v1 (<code>system/Patient.read</code>) or v2 (<code>system/Patient.rs</code>), granular ones with a search filter (<code>system/Observation.rs?category=laboratory</code>). Your registration sets the most you can ask for.</p>
<ul class="chips">${SCOPES_SUPPORTED.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ul></section>
<section aria-labelledby="steps"><h2 id="steps">Step by step</h2>
<ol class="steps">
<li><h3>Make a key pair</h3><p>Keep the private key; send the payer the public JWKS (or the HTTPS URL where you publish it).</p>${code('npx payer-fhir keys generate --alg ES384 --out ./keys')}</li>
<li><h3>Get registered</h3><p>The payer registers your application and gives you its <code>client_id</code>.</p></li>
<li><h3>Get an access token</h3><p>With the payer-fhir command line, which builds and signs the assertion for you:</p>${code(`npx payer-fhir token --token-url ${token} --client-id $CLIENT_ID --key ./keys/private.jwk --scope "system/*.rs"`)}<p>Or by hand with curl:</p>${code(curlAssertion)}</li>
<li><h3>Read, search and export</h3>${code(curlUse)}</li>
</ol></section>
<section aria-labelledby="postman"><h2 id="postman">Postman</h2>
<p>Import both files, put your <code>client_id</code> and private JWK in the environment, and run the requests in order: token, read and search, export kick-off, poll, download.</p>
<ul><li>${link(`${here}/postman-collection.json`, 'Postman collection (v2.1)')}</li><li>${link(`${here}/postman-environment.json`, 'Postman environment')}</li></ul></section>
</main>
<footer><p>payer-fhir · <a href="${escapeHtml(`${base}/metadata`)}">CapabilityStatement</a></p></footer>
</body>
</html>
`;
}

export const PORTAL_CSS = `
:root { color-scheme: light; --ink: #1b1f24; --muted: #4a5360; --accent: #0b5cad; --line: #d5dbe3; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; }
header, main, footer { max-width: 60rem; margin: 0 auto; padding: 1.25rem; }
header { border-bottom: 1px solid var(--line); }
.eyebrow { text-transform: uppercase; letter-spacing: .08em; font-size: .8rem; color: var(--muted); margin: 0; }
h1 { margin: .25rem 0; font-size: 1.9rem; }
h2 { margin-top: 2rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
a { color: var(--accent); }
a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .92em; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: .8rem; overflow-x: auto; }
.chips { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .4rem; }
.chips li { border: 1px solid var(--line); border-radius: 999px; padding: .1rem .6rem; background: var(--bg); font-family: ui-monospace, monospace; font-size: .9rem; }
.steps > li { margin-bottom: 1.2rem; }
footer { color: var(--muted); border-top: 1px solid var(--line); }
@media (max-width: 600px) { dl { grid-template-columns: 1fr; } h1 { font-size: 1.5rem; } }
`;
