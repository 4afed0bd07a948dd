// View export units' CPU work on view threads (src/views/encoder-pool.ts): the bytes a thread
// encodes are exactly those the worker's own thread would encode, in every format; a view
// error comes back with its resource; the pool lends at most `size` threads; and a row the
// statement marked as not yet rendered for a partner is rendered before the view sees it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parquetReadObjects } from 'hyparquet';
import { FINANCIAL_TYPES, partnerContentSql } from '../src/policy/basis.js';
import { generatePopulation } from '../src/seed/generator.js';
import { ViewChunkError, type ChunkSpec } from '../src/views/chunk-encoder.js';
import { localEncoder, ViewThreads, type UnitEncoder } from '../src/views/encoder-pool.js';
import type { OutputFormat } from '../src/views/formats.js';
import { shippedViews } from '../src/views/library.js';

type Json = Record<string, unknown>;

async function claimLinesView(): Promise<Json> {
  return (await shippedViews()).find((v) => v.id === 'claim-lines') as unknown as Json;
}

/** The plan's EOBs as NDJSON chunks of about `per` lines. */
function eobChunks(per: number): Buffer[] {
  const lines: string[] = [];
  for (const r of generatePopulation({ seed: 'view-threads', members: 25 })) if (r.resourceType === 'ExplanationOfBenefit') lines.push(JSON.stringify(r));
  const chunks: Buffer[] = [];
  for (let i = 0; i < lines.length; i += per) chunks.push(Buffer.from(`${lines.slice(i, i + per).join('\n')}\n`));
  return chunks;
}

/** Every byte an encoder gives for the chunks, as one file (no rollover). */
async function encodeAll(encoder: UnitEncoder, chunks: Buffer[]): Promise<{ bytes: Buffer; rows: number; resources: number }> {
  const parts: Buffer[] = [];
  let rows = 0;
  let resources = 0;
  try {
    // Several in flight, as the export unit keeps them.
    const pending = chunks.map((c) => encoder.lines(c));
    for (const p of pending) {
      const r = await p;
      parts.push(r.bytes);
      rows += r.rows;
      resources += r.resources;
    }
    const tail = await encoder.end(false);
    if (tail) parts.push(tail);
    return { bytes: Buffer.concat(parts), rows, resources };
  } finally {
    encoder.release();
  }
}

describe('view threads', () => {
  it('encode exactly what the worker thread encodes, in every format', async () => {
    const definition = await claimLinesView();
    const chunks = eobChunks(7);
    const threads = new ViewThreads(2);
    try {
      for (const format of ['csv', 'ndjson', 'parquet'] as OutputFormat[]) {
        const spec: ChunkSpec = { definition, format, header: true, policied: false };
        const here = await encodeAll(localEncoder(spec), chunks);
        const there = await encodeAll(await threads.encoder(spec), chunks);
        assert.ok(here.rows > 20, `${format}: the plan has claim lines (${here.rows})`);
        assert.equal(there.rows, here.rows, format);
        assert.equal(there.resources, here.resources, format);
        assert.ok(there.bytes.equals(here.bytes), `${format}: same bytes`);
        if (format === 'parquet') {
          const rows = await parquetReadObjects({ file: there.bytes.buffer.slice(there.bytes.byteOffset, there.bytes.byteOffset + there.bytes.length) as ArrayBuffer });
          assert.equal(rows.length, here.rows);
          assert.ok(rows.some((r) => typeof r.paid_amount === 'number'), 'the payer sees the money');
        }
      }
    } finally {
      threads.close();
    }
  });

  it('a chunk given to a thread moves there (no copy); one lent stays the caller\'s; the same rows either way', async () => {
    const definition = await claimLinesView();
    const spec: ChunkSpec = { definition, format: 'csv', header: true, policied: false };
    const threads = new ViewThreads(1);
    try {
      const lent = Buffer.concat(eobChunks(1000));
      const given = Buffer.concat([lent]);
      assert.equal(given.byteOffset, 0, 'a buffer of its own');
      const a = await threads.encoder(spec);
      const fromLent = await a.lines(lent);
      a.release();
      const b = await threads.encoder(spec);
      const fromGiven = await b.lines(given, true);
      b.release();
      assert.ok(fromLent.rows > 20);
      assert.equal(fromGiven.rows, fromLent.rows);
      assert.ok(fromGiven.bytes.equals(fromLent.bytes));
      assert.equal(given.buffer.byteLength, 0, 'the given chunk\'s memory moved to the thread');
      assert.ok(lent.length > 0 && lent.toString('utf8').startsWith('{'), 'the lent chunk is intact');
    } finally {
      threads.close();
    }
  });

  it('an empty file when asked for one: the CSV header alone', async () => {
    const threads = new ViewThreads(1);
    try {
      const e = await threads.encoder({ definition: await claimLinesView(), format: 'csv', header: true, policied: false });
      assert.equal(await e.end(false), undefined, 'no file is open, none is asked for');
      const empty = await e.end(true);
      e.release();
      assert.match(empty!.toString(), /^claim_id,member_id,claim_type,/);
      assert.equal(empty!.toString().split('\r\n').filter(Boolean).length, 1);
    } finally {
      threads.close();
    }
  });

  it('a view error comes back from the thread with the resource it met', async () => {
    const definition = { resourceType: 'ViewDefinition', name: 'items', status: 'active', resource: 'ExplanationOfBenefit', select: [{ column: [{ name: 'seq', path: 'item.sequence' }] }] };
    const threads = new ViewThreads(1);
    try {
      const e = await threads.encoder({ definition, format: 'ndjson', header: true, policied: false });
      const chunk = Buffer.from(`${JSON.stringify({ resourceType: 'ExplanationOfBenefit', id: 'one', item: [{ sequence: 1 }] })}\n${JSON.stringify({ resourceType: 'ExplanationOfBenefit', id: 'two', item: [{ sequence: 1 }, { sequence: 2 }] })}\n`);
      await assert.rejects(e.lines(chunk), (err: unknown) => {
        assert.ok(err instanceof ViewChunkError);
        assert.equal(err.at, 'ExplanationOfBenefit/two');
        assert.equal(err.status, 400);
        assert.match(err.issues[0].diagnostics, /collection/);
        return true;
      });
      e.release();
      // The thread goes on serving the next unit.
      const next = await threads.encoder({ definition: await claimLinesView(), format: 'ndjson', header: true, policied: false });
      const ok = await encodeAll(next, eobChunks(50));
      assert.ok(ok.rows > 0);
    } finally {
      threads.close();
    }
  });

  it('lends at most its size of threads: a second unit waits for the first to finish', async () => {
    const threads = new ViewThreads(1);
    try {
      const spec: ChunkSpec = { definition: await claimLinesView(), format: 'ndjson', header: true, policied: false };
      const first = await threads.encoder(spec);
      let secondReady = false;
      const second = threads.encoder(spec).then((e) => {
        secondReady = true;
        return e;
      });
      await encodeAll({ ...first, release: () => undefined }, eobChunks(50));
      assert.equal(secondReady, false, 'the only thread is still lent out');
      first.release();
      const e = await second;
      assert.equal(secondReady, true);
      assert.ok((await encodeAll(e, eobChunks(50))).rows > 0);
    } finally {
      threads.close();
    }
  });

  it('under a partner policy, a row not yet rendered is rendered before the view sees it: no money', async () => {
    assert.ok(FINANCIAL_TYPES.has('ExplanationOfBenefit'));
    // What partnerContentSql selects for a row without a stored Basis rendition: a marker, then the JSON.
    const marker = /'([^']+)' \|\|/.exec(partnerContentSql('r', true))![1];
    const raw = eobChunks(1000)[0].toString().split('\n').filter(Boolean);
    const marked = Buffer.from(`${raw.map((l) => `${marker}${l}`).join('\n')}\n`);
    const threads = new ViewThreads(1);
    try {
      const spec: ChunkSpec = { definition: await claimLinesView(), format: 'ndjson', header: true, policied: true };
      const out = await encodeAll(await threads.encoder(spec), [marked]);
      const rows = out.bytes.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json);
      assert.ok(rows.length > 20);
      for (const r of rows) for (const c of ['submitted_amount', 'allowed_amount', 'paid_amount', 'member_liability']) assert.equal(r[c], null, c);
    } finally {
      threads.close();
    }
  });
});
