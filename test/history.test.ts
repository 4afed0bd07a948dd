// vread and history at instance, type and system level: Bundle type history, newest first,
// DELETE entries, _count paging over `next` links, _since, and tamper-proof _page tokens.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, isOperationOutcome } from './helpers/http.js';
import { assertValidR4 } from './helpers/schema.js';
import { startServer, type TestServer } from './helpers/server.js';

/** Follows `next` links from `url`; returns every page (each checked: 200, valid history Bundle). */
async function allPages(url: string): Promise<any[]> {
  const pages: any[] = [];
  for (let next: string | undefined = url; next; ) {
    const r = await http(next);
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type')!, /^application\/fhir\+json/);
    assert.equal(r.json.resourceType, 'Bundle');
    assert.equal(r.json.type, 'history');
    assertValidR4(r.json);
    pages.push(r.json);
    assert.ok(pages.length < 200, 'paging does not terminate');
    next = r.json.link?.find((l: any) => l.relation === 'next')?.url;
  }
  return pages;
}

/** `Type/id/version` of every entry, in order. */
function keys(entries: any[]): string[] {
  return entries.map((e) => {
    const version = e.resource?.meta?.versionId ?? /W\/"(\d+)"/.exec(e.response.etag)![1];
    const url = e.fullUrl.split('/').slice(-2).join('/');
    return `${url}/${version}`;
  });
}

/** Asserts entries are newest first: lastUpdated never increases down the list. */
function assertNewestFirst(entries: any[]): void {
  for (let i = 1; i < entries.length; i++) {
    assert.ok(
      Date.parse(entries[i - 1].response.lastModified) >= Date.parse(entries[i].response.lastModified),
      `entry ${i} is newer than entry ${i - 1}`,
    );
  }
}

describe('vread and history', () => {
  let server: TestServer;
  let base: string;
  before(async () => {
    server = await startServer();
    ({ base } = await server.newTenant('history'));
  });
  after(() => server.close());

  it('vread: each version with its ETag; unknown version → 404; bad version id → 400', async () => {
    const c = await http(`${base}/Patient`, { body: { resourceType: 'Patient', name: [{ family: 'V1' }] } });
    const id = c.json.id;
    await http(`${base}/Patient/${id}`, { method: 'PUT', body: { resourceType: 'Patient', id, name: [{ family: 'V2' }] } });
    for (const v of [1, 2]) {
      const r = await http(`${base}/Patient/${id}/_history/${v}`);
      assert.equal(r.status, 200);
      assertValidR4(r.json);
      assert.equal(r.json.id, id);
      assert.equal(r.json.meta.versionId, String(v));
      assert.equal(r.json.name[0].family, `V${v}`);
      assert.equal(r.headers.get('etag'), `W/"${v}"`);
      assert.equal(r.headers.get('last-modified'), new Date(r.json.meta.lastUpdated).toUTCString());
    }
    const missing = await http(`${base}/Patient/${id}/_history/3`);
    assert.equal(missing.status, 404);
    assert.ok(isOperationOutcome(missing));
    const bad = await http(`${base}/Patient/${id}/_history/abc`);
    assert.equal(bad.status, 400);
    assert.ok(isOperationOutcome(bad));
    const unknown = await http(`${base}/Patient/nobody/_history/1`);
    assert.equal(unknown.status, 404);
  });

  it('instance history: Bundle type history, newest first, DELETE entry for the deletion', async () => {
    const c = await http(`${base}/Observation`, { body: { resourceType: 'Observation', status: 'preliminary', code: { text: 'hr' } } });
    const id = c.json.id;
    await http(`${base}/Observation/${id}`, { method: 'PUT', body: { ...c.json, status: 'final' } });
    await http(`${base}/Observation/${id}`, { method: 'DELETE' });
    await http(`${base}/Observation/${id}`, { method: 'PUT', body: { ...c.json, status: 'amended' } });
    const r = await http(`${base}/Observation/${id}/_history`);
    assert.equal(r.status, 200);
    assertValidR4(r.json);
    assert.equal(r.json.resourceType, 'Bundle');
    assert.equal(r.json.type, 'history');
    const e = r.json.entry;
    assert.equal(e.length, 4);
    assert.deepEqual(keys(e), [4, 3, 2, 1].map((v) => `Observation/${id}/${v}`));
    assertNewestFirst(e);
    assert.deepEqual(e.map((x: any) => x.request.method), ['PUT', 'DELETE', 'PUT', 'POST']);
    assert.equal(e[1].resource, undefined);
    assert.equal(e[1].request.url, `Observation/${id}`);
    assert.equal(e[0].resource.status, 'amended');
    assert.equal(e[2].resource.status, 'final');
    assert.equal(e[3].resource.status, 'preliminary');
    for (const x of e) {
      assert.equal(x.fullUrl, `${base}/Observation/${id}`);
      if (x.resource) assertValidR4(x.resource);
    }
    assert.equal(r.json.link.find((l: any) => l.relation === 'self').url.startsWith(`${base}/Observation/${id}/_history`), true);
  });

  it('instance history of an unknown id → 404', async () => {
    const r = await http(`${base}/Observation/never-was/_history`);
    assert.equal(r.status, 404);
    assert.ok(isOperationOutcome(r));
  });

  it('_count paging over next links returns every version exactly once (many writes in one instant)', async () => {
    const { base: pbase } = await server.newTenant('paging');
    // A transaction writes all of its entries with one lastUpdated, so the pages must split ties.
    const entry = Array.from({ length: 12 }, (_, i) => ({
      resource: { resourceType: 'Practitioner', name: [{ family: `P${i}` }] },
      request: { method: 'POST', url: 'Practitioner' },
    }));
    const tx = await http(pbase, { body: { resourceType: 'Bundle', type: 'transaction', entry } });
    assert.equal(tx.status, 200, tx.text);
    // And a resource with many versions.
    const c = await http(`${pbase}/Practitioner`, { body: { resourceType: 'Practitioner' } });
    const id = c.json.id;
    for (let i = 0; i < 9; i++) await http(`${pbase}/Practitioner/${id}`, { method: 'PUT', body: { resourceType: 'Practitioner', id, active: i % 2 === 0 } });
    await http(`${pbase}/Practitioner/${id}`, { method: 'DELETE' });

    const expected = 12 + 11;
    for (const url of [`${pbase}/Practitioner/_history?_count=5`, `${pbase}/_history?_count=4`, `${pbase}/_history?_count=1`]) {
      const pages = await allPages(url);
      const entries = pages.flatMap((p) => p.entry ?? []);
      const got = keys(entries);
      assert.equal(got.length, expected, url);
      assert.equal(new Set(got).size, expected, `${url}: duplicates`);
      assertNewestFirst(entries);
      const count = Number(new URL(url).searchParams.get('_count'));
      for (const p of pages.slice(0, -1)) assert.equal(p.entry.length, count);
      for (const p of pages) for (const e of p.entry ?? []) if (e.resource) assertValidR4(e.resource);
    }
    const inst = (await allPages(`${pbase}/Practitioner/${id}/_history?_count=3`)).flatMap((p) => p.entry);
    assert.deepEqual(keys(inst), Array.from({ length: 11 }, (_, i) => `Practitioner/${id}/${11 - i}`));
    // Every next link is absolute on the tenant base.
    const first = await http(`${pbase}/_history?_count=2`);
    assert.ok(first.json.link.find((l: any) => l.relation === 'next').url.startsWith(`${pbase}/_history?`));
  });

  it('type and system history cover their scope only', async () => {
    const { base: sbase } = await server.newTenant('scope');
    const p = await http(`${sbase}/Patient`, { body: { resourceType: 'Patient' } });
    const o = await http(`${sbase}/Organization`, { body: { resourceType: 'Organization', name: 'Plan' } });
    const type = await http(`${sbase}/Patient/_history`);
    assert.equal(type.status, 200);
    assertValidR4(type.json);
    assert.deepEqual(keys(type.json.entry), [`Patient/${p.json.id}/1`]);
    const system = await http(`${sbase}/_history`);
    assertValidR4(system.json);
    assert.deepEqual(keys(system.json.entry), [`Organization/${o.json.id}/1`, `Patient/${p.json.id}/1`]);
    const empty = await http(`${sbase}/Encounter/_history`);
    assert.equal(empty.status, 200);
    assertValidR4(empty.json);
    assert.equal(empty.json.type, 'history');
    assert.equal(empty.json.entry, undefined);
    const unknownType = await http(`${sbase}/Spaceship/_history`);
    assert.equal(unknownType.status, 404);
    assert.ok(isOperationOutcome(unknownType));
  });

  it('_since keeps versions written at or after the instant', async () => {
    const { base: sbase } = await server.newTenant('since');
    const a = await http(`${sbase}/Patient`, { body: { resourceType: 'Patient' } });
    await new Promise((r) => setTimeout(r, 5)); // make the next write a later millisecond
    const b = await http(`${sbase}/Patient`, { body: { resourceType: 'Patient' } });
    const cut = b.json.meta.lastUpdated;
    const u = await http(`${sbase}/Patient/${a.json.id}`, { method: 'PUT', body: { resourceType: 'Patient', id: a.json.id, active: true } });
    const r = await http(`${sbase}/_history?_since=${encodeURIComponent(cut)}`);
    assert.equal(r.status, 200);
    assertValidR4(r.json);
    assert.deepEqual(keys(r.json.entry), [`Patient/${a.json.id}/2`, `Patient/${b.json.id}/1`]);
    assert.equal(u.json.meta.versionId, '2');
    const typeLevel = await http(`${sbase}/Patient/_history?_since=${encodeURIComponent(cut)}`);
    assert.equal(typeLevel.json.entry.length, 2);
    const inst = await http(`${sbase}/Patient/${a.json.id}/_history?_since=${encodeURIComponent(cut)}`);
    assert.deepEqual(keys(inst.json.entry), [`Patient/${a.json.id}/2`]);
    const future = await http(`${sbase}/_history?_since=2999-01-01T00:00:00Z`);
    assert.equal(future.status, 200);
    assert.equal(future.json.entry, undefined);
    // _since survives into next links.
    const paged = await http(`${sbase}/_history?_count=1&_since=${encodeURIComponent(cut)}`);
    const next = paged.json.link.find((l: any) => l.relation === 'next').url;
    assert.equal(new URL(next).searchParams.get('_since'), cut);
    const bad = await http(`${sbase}/_history?_since=yesterday`);
    assert.equal(bad.status, 400);
    assert.ok(isOperationOutcome(bad));
  });

  it('tampered or forged _page token → 400 OperationOutcome; bad _count → 400', async () => {
    const { base: tbase } = await server.newTenant('tamper');
    for (let i = 0; i < 3; i++) await http(`${tbase}/Patient`, { body: { resourceType: 'Patient' } });
    const first = await http(`${tbase}/_history?_count=1`);
    const next = new URL(first.json.link.find((l: any) => l.relation === 'next').url);
    const token = next.searchParams.get('_page')!;
    const [body, mac] = token.split('.');
    const decoded = JSON.parse(Buffer.from(body, 'base64url').toString());
    const forgedBody = Buffer.from(JSON.stringify({ ...decoded, version: decoded.version + 1 })).toString('base64url');
    const flipped = mac.slice(0, -1) + (mac.at(-1) === 'A' ? 'B' : 'A');
    for (const bad of [`${forgedBody}.${mac}`, `${body}.${flipped}`, 'garbage', `${body}.`, '']) {
      next.searchParams.set('_page', bad);
      const r = await http(next.toString());
      if (bad === '') {
        assert.equal(r.status, 200); // no token at all is the first page
        continue;
      }
      assert.equal(r.status, 400, bad);
      assert.ok(isOperationOutcome(r));
      assertValidR4(r.json);
      assert.deepEqual(r.json.issue[0].expression, ['_page']);
    }
    for (const count of ['-1', 'ten', '1.5']) {
      const r = await http(`${tbase}/_history?_count=${count}`);
      assert.equal(r.status, 400, count);
      assert.ok(isOperationOutcome(r));
    }
  });
});
