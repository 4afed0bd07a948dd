// DL-12, RS-10: an attachment url in export output is absolute on the tenant's FHIR base and
// retrievable with the export's token; REST reads keep the url as stored. Unit rows of the
// byte scanner: lines without a relative Attachment.url keep their exact bytes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { absoluteAttachmentLines } from '../src/bulk/attachment-lines.js';
import { absoluteAttachmentUrls } from '../src/fhir/attachment.js';
import { runExport } from './helpers/bulk.js';
import { http } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';

const BASE = 'https://payer.example/payer/system-access/v2/acme';
const RACE = {
  url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race',
  extension: [{ url: 'ombCategory', valueCoding: { system: 'urn:oid:2.16.840.1.113883.6.238', code: '2106-3' } }, { url: 'text', valueString: 'White' }],
};

describe('attachment urls: the scanner and the rewrite (DL-12)', () => {
  it('relative Attachment urls become absolute on the base, anywhere an Attachment can be', () => {
    const r: any = {
      resourceType: 'DocumentReference',
      id: 'd1',
      extension: [{ url: 'http://example.org/ext/scan', valueAttachment: { url: 'Binary/scan-1' } }],
      content: [{ attachment: { contentType: 'text/plain', url: 'Binary/1-note' } }, { attachment: { url: 'https://elsewhere.example/doc.pdf' } }],
      contained: [{ resourceType: 'Media', id: 'm', status: 'completed', content: { url: 'Binary/photo' } }],
    };
    assert.equal(absoluteAttachmentUrls(r, BASE), true);
    assert.equal(r.content[0].attachment.url, `${BASE}/Binary/1-note`);
    assert.equal(r.content[1].attachment.url, 'https://elsewhere.example/doc.pdf', 'absolute urls are kept');
    assert.equal(r.extension[0].valueAttachment.url, `${BASE}/Binary/scan-1`, 'an extension value');
    assert.equal(r.extension[0].url, 'http://example.org/ext/scan');
    assert.equal(r.contained[0].content.url, `${BASE}/Binary/photo`, 'a contained resource');
  });

  it('Extension.url, data: and urn: urls, fragments and Attachments without url are left alone', () => {
    const r: any = { resourceType: 'Patient', id: 'p', extension: [RACE], photo: [{ url: 'data:image/png;base64,AAAA' }, { url: 'urn:uuid:1' }, { url: '#c1' }, { title: 'no url' }] };
    const before = JSON.stringify(r);
    assert.equal(absoluteAttachmentUrls(r, BASE), false);
    assert.equal(JSON.stringify(r), before);
  });

  it('lines with nothing to change keep their exact bytes (the same Buffer); only changed lines are rewritten', () => {
    const patient = JSON.stringify({ resourceType: 'Patient', id: 'p1', extension: [RACE], name: [{ family: 'Ng' }] });
    const plain = Buffer.from(`${patient}\n${JSON.stringify({ resourceType: 'Observation', id: 'o1', status: 'final' })}\n`);
    assert.equal(absoluteAttachmentLines(plain, BASE), plain, 'no relative Attachment.url: no copy at all');
    const doc = JSON.stringify({ resourceType: 'DocumentReference', id: 'd1', status: 'current', content: [{ attachment: { url: 'Binary/1-note' } }] });
    const out = absoluteAttachmentLines(Buffer.from(`${patient}\n${doc}\n${patient}\n`), BASE).toString('utf8').split('\n');
    assert.equal(out.length, 4);
    assert.equal(out[0], patient);
    assert.equal(out[2], patient);
    assert.equal(out[3], '');
    assert.equal(JSON.parse(out[1]).content[0].attachment.url, `${BASE}/Binary/1-note`);
    assert.equal(out[1], doc.replace('"Binary/1-note"', `"${BASE}/Binary/1-note"`), 'only the url changed, member order kept');
  });

  it('a line with a prefix before its JSON (organized units: patient\\x02{…}) keeps the prefix', () => {
    const doc = JSON.stringify({ resourceType: 'DocumentReference', id: 'd1', status: 'current', content: [{ attachment: { url: 'Binary/x' } }] });
    const out = absoluteAttachmentLines(Buffer.from(`p-1\x02${doc}\n`), BASE).toString('utf8');
    assert.ok(out.startsWith('p-1\x02{'));
    assert.equal(JSON.parse(out.slice(4)).content[0].attachment.url, `${BASE}/Binary/x`);
  });
});

describe('attachment urls in export output over HTTP (DL-12, RS-10)', () => {
  let server: TestServer;
  let base: string;
  const note = Buffer.from('Seen for a follow-up; no changes.').toString('base64');

  before(async () => {
    server = await startServer({}, { workers: 2 });
    ({ base } = await server.newTenant('attach'));
    const puts: any[] = [
      { resourceType: 'Patient', id: 'pa1', extension: [RACE], name: [{ family: 'Okafor' }], photo: [{ contentType: 'image/png', url: 'Binary/pa1-photo' }] },
      { resourceType: 'Patient', id: 'pa2', name: [{ family: 'Lund' }] },
      { resourceType: 'Binary', id: '1-note', contentType: 'text/plain', data: note },
      {
        resourceType: 'DocumentReference',
        id: 'doc1',
        status: 'current',
        subject: { reference: 'Patient/pa1' },
        content: [{ attachment: { contentType: 'text/plain', url: 'Binary/1-note' } }, { attachment: { contentType: 'application/pdf', url: 'https://docs.example/a.pdf' } }],
      },
      { resourceType: 'DocumentReference', id: 'doc2', status: 'current', subject: { reference: 'Patient/pa2' }, content: [{ attachment: { contentType: 'text/plain', data: note } }] },
    ];
    for (const r of puts) assert.equal((await http(`${base}/${r.resourceType}/${r.id}`, { method: 'PUT', body: r })).status, 201, r.id);
  });
  after(() => server.close());

  it('system export: DocumentReference content.attachment.url = BASE/Binary/1-note, retrievable with the same token; other urls and bytes untouched', async () => {
    const { byType, files } = await runExport(`${base}/$export?_type=DocumentReference,Patient`);
    const docs = new Map(byType.get('DocumentReference')!.map((d) => [d.id, d]));
    assert.equal(docs.get('doc1').content[0].attachment.url, `${base}/Binary/1-note`);
    assert.equal(docs.get('doc1').content[1].attachment.url, 'https://docs.example/a.pdf');
    assert.equal(docs.get('doc2').content[0].attachment.data, note);
    const pa1 = byType.get('Patient')!.find((p) => p.id === 'pa1');
    assert.equal(pa1.photo[0].url, `${base}/Binary/pa1-photo`, 'Patient.photo is an Attachment too');
    assert.deepEqual(pa1.extension[0].extension.map((e: any) => e.url), ['ombCategory', 'text'], 'relative Extension.url names are not Attachments');
    for (const d of docs.values()) assertValidR4(d);
    // The url is absolute on the public base and answers with the export's token (RS-10).
    const binary = await http(docs.get('doc1').content[0].attachment.url);
    assert.equal(binary.status, 200);
    assert.equal(binary.json.resourceType, 'Binary');
    assert.equal(binary.json.data, note);
    // pa2's line carries no attachment: its bytes are the stored JSON, exactly as a read returns them.
    const read = await http(`${base}/Patient/pa2`);
    const line = [...files.values()].flatMap((t) => t.split('\n')).find((l) => l.includes('"id":"pa2"'));
    assert.equal(line, read.text);
  });

  it('Patient-level and organized (organizeOutputBy=Patient) output are rewritten as well', async () => {
    const patientLevel = await runExport(`${base}/Patient/$export?_type=DocumentReference`);
    assert.equal(patientLevel.byType.get('DocumentReference')!.find((d) => d.id === 'doc1').content[0].attachment.url, `${base}/Binary/1-note`);
    const organized = await runExport(`${base}/Patient/$export?_type=Patient,DocumentReference&organizeOutputBy=Patient`);
    const lines = organized.byType.get('*')!;
    assert.equal(lines.find((r) => r.id === 'doc1').content[0].attachment.url, `${base}/Binary/1-note`);
    assert.equal(lines.find((r) => r.id === 'pa1').photo[0].url, `${base}/Binary/pa1-photo`);
  });

  it('REST reads keep what is stored: the relative url', async () => {
    const r = await http(`${base}/DocumentReference/doc1`);
    assert.equal(r.status, 200);
    assert.equal(r.json.content[0].attachment.url, 'Binary/1-note');
    const s = await http(`${base}/DocumentReference?_id=doc1`);
    assert.equal(s.json.entry[0].resource.content[0].attachment.url, 'Binary/1-note');
  });
});
