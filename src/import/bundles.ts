/**
 * Bundle files. A transaction Bundle loads all or nothing through the API's own transaction
 * rules (entry parsing, DELETE-POST-PUT order, `urn:uuid:` resolution in performWrites).
 * batch, collection and searchset Bundles are containers: each entry loads on its own, like an
 * NDJSON line, and `urn:uuid:` references between entries are resolved across the whole
 * Bundle, even when its entries end up in different write batches.
 */
import { newResourceId } from '../fhir/ids.js';
import { isResourceType } from '../fhir/schema.js';
import { rewriteReferences } from '../fhir/resource.js';
import { validateResource } from '../fhir/validation.js';
import { parseEntry, transactionOrder, type ParsedEntry } from '../interactions/bundle.js';
import type { WriteRequest } from '../interactions/writes.js';
import { claimedType, resourceRequest, type ImportItem } from './items.js';
import { reasonOf, type ImportIssue } from './report.js';

export interface ItemQueue {
  add(item: ImportItem): Promise<void> | undefined;
  addAtomic(items: ImportItem[]): Promise<void>;
  /** Waits until everything queued is written (so `written` callbacks have run). */
  drain(): Promise<void>;
}

/** Records a rejection; throws ImportStopped under `--on-error abort`. */
export type Reject = (issue: ImportIssue) => void;

export type EntriesBundleType = 'transaction' | 'batch' | 'collection' | 'searchset';

/** Bundle types whose entries are loaded; other Bundles (document, message) are stored as resources. */
export function entriesBundleType(value: unknown): EntriesBundleType | undefined {
  const b = value as { resourceType?: unknown; type?: unknown } | null;
  if (b?.resourceType !== 'Bundle') return undefined;
  return b.type === 'transaction' || b.type === 'batch' || b.type === 'collection' || b.type === 'searchset' ? b.type : undefined;
}

/** Bundle entries hold no server base: `request.url` must be relative (`Type`, `Type/id`). */
const NO_BASE = { base: '' };
const LINE = 1;

interface RawEntry {
  fullUrl?: unknown;
  resource?: unknown;
  search?: { mode?: unknown };
}

function entryType(raw: unknown): string | undefined {
  const t = claimedType((raw as RawEntry | null)?.resource);
  return t && isResourceType(t) ? t : undefined;
}

function entriesOf(bundle: unknown, file: string, reject: Reject): unknown[] | undefined {
  const entry = (bundle as { entry?: unknown }).entry;
  if (entry === undefined) return [];
  if (Array.isArray(entry)) return entry;
  reject({ file, line: LINE, type: 'Bundle', message: 'Bundle.entry must be an array' });
  return undefined;
}

export async function importBundle(bundle: unknown, type: EntriesBundleType, file: string, queue: ItemQueue, reject: Reject): Promise<number> {
  const entries = entriesOf(bundle, file, reject);
  if (!entries) return 0;
  if (type === 'transaction') return importTransaction(entries, file, queue, reject);
  return importEntries(entries, type, file, queue, reject);
}

async function importTransaction(entries: unknown[], file: string, queue: ItemQueue, reject: Reject): Promise<number> {
  const parsed: ParsedEntry[] = [];
  const problems: ImportIssue[] = [];
  entries.forEach((raw, i) => {
    try {
      parsed.push(parseEntry(NO_BASE, raw, i));
    } catch (err) {
      problems.push({ file, line: LINE, type: entryType(raw), message: `${reasonOf(err)} (the transaction Bundle was not loaded)` });
    }
  });
  for (const p of problems) reject(p);
  if (problems.length) return entries.length;
  // GET entries read; an import has nothing to answer them with.
  const writes = transactionOrder(parsed);
  if (writes.length) await queue.addAtomic(writes.map((e) => ({ file, line: LINE, request: e.write! })));
  return entries.length;
}

/** Turns a container entry into a write request: batch entries as the API parses them, others by their id. */
function entryRequest(raw: unknown, index: number, type: EntriesBundleType): WriteRequest | undefined {
  const label = `Bundle.entry[${index}]`;
  if (type === 'batch') return parseEntry(NO_BASE, raw, index).write;
  const entry = raw as RawEntry | null;
  if (!entry || typeof entry !== 'object') throw new Error(`${label} is not an object`);
  if (type === 'searchset' && entry.search?.mode === 'outcome') return undefined;
  if (entry.resource === undefined) throw new Error(`${label} has no resource`);
  let request: WriteRequest;
  try {
    request = resourceRequest(validateResource(entry.resource), label);
  } catch (err) {
    throw new Error(`${label}: ${reasonOf(err)}`);
  }
  if (typeof entry.fullUrl === 'string') request.fullUrl = entry.fullUrl;
  return request;
}

async function importEntries(entries: unknown[], type: EntriesBundleType, file: string, queue: ItemQueue, reject: Reject): Promise<number> {
  // fullUrl (urn:…) → final Type/id, known up front for every entry except conditional creates.
  const targets = new Map<string, string>();
  const conditional: ImportItem[] = [];
  const rest: { item: ImportItem; label: string }[] = [];

  for (const [index, raw] of entries.entries()) {
    let request: WriteRequest | undefined;
    try {
      request = entryRequest(raw, index, type);
    } catch (err) {
      reject({ file, line: LINE, type: entryType(raw), message: reasonOf(err) });
      continue;
    }
    if (!request || request.method === 'DELETE') {
      if (request) rest.push({ item: { file, line: LINE, request }, label: request.label ?? '' });
      continue;
    }
    const fullUrl = request.fullUrl?.startsWith('urn:') ? request.fullUrl : undefined;
    // Resolution happens here, not in performWrites, so fullUrls never reach it: an absolute
    // fullUrl must not turn matching absolute references into relative ones.
    delete request.fullUrl;
    if (fullUrl && request.method === 'POST' && request.ifNoneExist) {
      conditional.push({ file, line: LINE, request, written: (out) => targets.set(fullUrl, `${out.type}/${out.id}`) });
      continue;
    }
    if (request.method === 'POST' && fullUrl) {
      // Choose the id now, so entries in later batches can point at it: a create with a
      // fresh id is exactly what POST would have done.
      const id = newResourceId();
      request = { ...request, method: 'PUT', id, resource: { ...request.resource!, id } };
    }
    if (fullUrl) targets.set(fullUrl, `${request.type}/${request.id}`);
    rest.push({ item: { file, line: LINE, request }, label: request.label ?? '' });
  }

  if (conditional.length) {
    // Their ids are known only once matched or created.
    for (const item of conditional) await queue.add(item);
    await queue.drain();
  }
  for (const { item, label } of rest) {
    const resource = item.request.resource;
    let unresolved: string | undefined;
    if (resource) {
      rewriteReferences(resource, (ref) => {
        const target = targets.get(ref);
        if (target) return target;
        if (ref.startsWith('urn:uuid:') || ref.startsWith('urn:oid:')) unresolved ??= ref;
        return undefined;
      });
    }
    if (unresolved) {
      reject({ file, line: LINE, type: item.request.type, message: `${label}: reference '${unresolved}' matches no entry's fullUrl` });
      continue;
    }
    await queue.add(item);
  }
  return entries.length;
}
