/**
 * Builds Bundle JSON text around stored resource JSON without parsing it again, so history,
 * search and transaction responses cost one string join per entry.
 */

export interface BundleLink {
  relation: string;
  url: string;
}

export interface BundleEntry {
  fullUrl?: string;
  /** The resource's JSON text, embedded as is. */
  resourceJson?: string;
  search?: { mode: 'match' | 'include' | 'outcome' };
  request?: { method: string; url: string };
  response?: { status: string; location?: string; etag?: string; lastModified?: string; outcome?: unknown };
}

export function bundleJson(type: string, entries: BundleEntry[], extra: { link?: BundleLink[]; total?: number } = {}): string {
  const head: Record<string, unknown> = { resourceType: 'Bundle', type };
  if (extra.total !== undefined) head.total = extra.total;
  if (extra.link?.length) head.link = extra.link;
  const parts = entries.map((e) => {
    const { resourceJson, ...rest } = e;
    const fields: string[] = [];
    if (rest.fullUrl !== undefined) fields.push(`"fullUrl":${JSON.stringify(rest.fullUrl)}`);
    if (resourceJson !== undefined) fields.push(`"resource":${resourceJson}`);
    if (rest.search) fields.push(`"search":${JSON.stringify(rest.search)}`);
    if (rest.request) fields.push(`"request":${JSON.stringify(rest.request)}`);
    if (rest.response) fields.push(`"response":${JSON.stringify(rest.response)}`);
    return `{${fields.join(',')}}`;
  });
  const headJson = JSON.stringify(head);
  return parts.length ? `${headJson.slice(0, -1)},"entry":[${parts.join(',')}]}` : headJson;
}
