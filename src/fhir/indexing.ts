/**
 * Search-index values extracted from a resource at write time.
 *
 * For now the server indexes `identifier` tokens, which conditional create (`If-None-Exist`)
 * and import de-duplication need; the search issue replaces this with extraction driven by
 * the official SearchParameter definitions.
 */
import type { Resource } from './validation.js';

export interface TokenIndex {
  param: string;
  system: string | null;
  code: string;
}

interface Identifier {
  system?: unknown;
  value?: unknown;
}

export function extractTokens(resource: Resource): TokenIndex[] {
  const out: TokenIndex[] = [];
  const raw = resource.identifier;
  const identifiers = (Array.isArray(raw) ? raw : raw ? [raw] : []) as Identifier[];
  for (const ident of identifiers) {
    if (ident && typeof ident.value === 'string') {
      out.push({ param: 'identifier', system: typeof ident.system === 'string' ? ident.system : null, code: ident.value });
    }
  }
  return out;
}
