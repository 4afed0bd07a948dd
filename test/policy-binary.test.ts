// Binary under partner policies: a Binary is the document of the resource whose Attachment
// points to it (`Binary/[id]`), and goes to whoever may see that resource — so a partner can
// fetch the attachments of the documents it receives, as Bulk Data asks of export output
// (DL-12), and nothing else: not another member's, not an old one's, not an orphan. Real HTTP,
// PostgreSQL and tokens, on the partner-world plan plus documents written here.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ago } from './fixtures/partner-world.js';
import { http } from './helpers/http.js';
import { entryKeys as ids, partnerExport, partnerWorldTenant, type Partner } from './helpers/partners.js';
import { startServer, type TestServer } from './helpers/server.js';

const binary = (id: string, label?: string) => ({
  resourceType: 'Binary', id, contentType: 'text/plain', data: Buffer.from(`note ${id}`).toString('base64'),
  ...(label ? { meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: label }] } } : {}),
});
const doc = (id: string, patient: string, date: string, url: string) => ({
  resourceType: 'DocumentReference', id, status: 'current', subject: { reference: `Patient/${patient}` }, date,
  type: { text: 'note' }, content: [{ attachment: { contentType: 'text/plain', url } }],
});

describe('Binary under partner policies', () => {
  let server: TestServer;
  let base: string;
  let provider: Partner;
  let payer: Partner;

  before(async () => {
    server = await startServer({}, { workers: 2 });
    ({ base, provider, payer } = await partnerWorldTenant(server, 'policy-binary'));
    const more = [
      binary('note-pa1'), doc('doc-pa1', 'pa1', '2021-06-01T00:00:00Z', 'Binary/note-pa1'),
      binary('note-pa1-old'), doc('doc-pa1-old', 'pa1', '2014-06-01T00:00:00Z', 'Binary/note-pa1-old'),
      binary('note-pb1'), doc('doc-pb1', 'pb1', '2021-06-01T00:00:00Z', 'Binary/note-pb1'),
      binary('orphan'),
      binary('photo-prac'), { resourceType: 'Practitioner', id: 'prac-photo', name: [{ family: 'Pictured' }], photo: [{ contentType: 'text/plain', url: 'Binary/photo-prac' }] },
      binary('note-pm1'), doc('doc-pm1', 'pm1', `${ago(1)}T00:00:00Z`, 'Binary/note-pm1'),
      binary('note-pm2-labelled', 'ETH'), doc('doc-pm2', 'pm2', `${ago(1)}T00:00:00Z`, 'Binary/note-pm2-labelled'),
    ];
    const load = await http(base, { body: { resourceType: 'Bundle', type: 'batch', entry: more.map((r) => ({ resource: r, request: { method: 'PUT', url: `${r.resourceType}/${r.id}` } })) } });
    assert.equal(load.status, 200, load.text);
    for (const e of load.json.entry) assert.match(e.response.status, /^201/, JSON.stringify(e.response));
  });
  after(() => server.close());

  const get = (p: Partner, path: string) => http(`${base}/${path}`, { headers: p.auth });
  const status = async (p: Partner, id: string) => (await get(p, `Binary/${id}`)).status;

  it('provider-access: the attachments of documents it may see, and the directory\'s; nothing else', async () => {
    const seen: Record<string, number> = {};
    for (const id of ['note-pa1', 'note-pa1-old', 'note-pb1', 'orphan', 'photo-prac', 'note-pm1']) seen[id] = await status(provider, id);
    assert.deepEqual(seen, { 'note-pa1': 200, 'note-pa1-old': 404, 'note-pb1': 404, orphan: 404, 'photo-prac': 200, 'note-pm1': 404 });
    const raw = await http(`${base}/Binary/note-pa1`, { headers: { ...provider.auth, accept: 'text/plain' } });
    assert.equal(raw.text, 'note note-pa1');
    assert.deepEqual(ids((await get(provider, 'Binary?_count=50')).json), ['Binary/note-pa1', 'Binary/photo-prac']);
    assert.equal((await get(provider, 'Binary/note-pa1/_history/1')).status, 200);
    assert.equal((await get(provider, 'Binary/note-pb1/_history/1')).status, 404);
    // The payer's own systems see every Binary.
    for (const id of ['note-pb1', 'orphan']) assert.equal((await http(`${base}/Binary/${id}`)).status, 200);
  });

  it('payer-to-payer: its matched, consenting members\' documents; a Binary labelled sensitive is withheld', async () => {
    const seen: Record<string, number> = {};
    for (const id of ['note-pm1', 'note-pm2-labelled', 'note-pa1', 'orphan']) seen[id] = await status(payer, id);
    assert.deepEqual(seen, { 'note-pm1': 200, 'note-pm2-labelled': 404, 'note-pa1': 404, orphan: 404 });
  });

  it('follows the document: pointed elsewhere, the Binary is withheld again', async () => {
    assert.equal((await http(`${base}/DocumentReference/doc-pa1`, { method: 'PUT', body: doc('doc-pa1', 'pa1', '2021-06-01T00:00:00Z', 'Binary/orphan') })).status, 200);
    assert.equal(await status(provider, 'note-pa1'), 404);
    assert.equal(await status(provider, 'orphan'), 200);
    assert.equal((await http(`${base}/DocumentReference/doc-pa1`, { method: 'PUT', body: doc('doc-pa1', 'pa1', '2021-06-01T00:00:00Z', 'Binary/note-pa1') })).status, 200);
    assert.equal(await status(provider, 'orphan'), 404);
  });

  it('a provider export\'s DocumentReference points at an absolute Binary url the partner can fetch (DL-12)', async () => {
    const x = await partnerExport(provider, `${base}/Group/att-a/$export?_type=DocumentReference`);
    const docs = x.resources.filter((r) => r.resourceType === 'DocumentReference');
    assert.deepEqual(docs.map((d) => d.id).sort(), ['doc-pa1']);
    const url = docs[0].content[0].attachment.url;
    assert.equal(url, `${base}/Binary/note-pa1`);
    const r = await http(url, { headers: { ...provider.auth, accept: 'text/plain' } });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'note note-pa1');
  });
});
