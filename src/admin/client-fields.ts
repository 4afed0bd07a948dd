/**
 * The settings of a partner application that the admin API accepts and the console's form
 * shows, beyond its name, authentication and scopes — declared once. The API builds its body
 * schema and its call into auth/clients.ts from this list, and the console renders a form field
 * per entry, so a new setting (a partner policy, an organisation, a token rate) is one entry
 * here plus its column in the registry. No Node imports: the console bundles this file.
 */
export interface ClientField {
  /** The property in the admin API's JSON. */
  name: string;
  label: string;
  help: string;
  kind: 'integer' | 'number' | 'text';
  min?: number;
  max?: number;
  /** Where auth/clients.ts takes it: NewClient itself, or its limits (changeable later). */
  target: 'client' | 'limits';
}

export const CLIENT_FIELDS: readonly ClientField[] = [
  { name: 'tokenTtl', label: 'Access-token lifetime (seconds)', help: '30–3600; empty: the server default (ACCESS_TOKEN_TTL)', kind: 'integer', min: 30, max: 3600, target: 'client' },
  { name: 'ratePerSecond', label: 'Requests per second', help: 'Empty: the server default (RATE_LIMIT_CLIENT)', kind: 'number', min: 0.001, target: 'limits' },
  { name: 'rateBurst', label: 'Burst (requests)', help: 'Requests allowed above the rate at once; empty: RATE_LIMIT_CLIENT_BURST', kind: 'integer', min: 1, target: 'limits' },
  { name: 'maxExports', label: 'Concurrent exports', help: 'Exports running at once; empty: EXPORT_MAX_JOBS_PER_CLIENT', kind: 'integer', min: 1, target: 'limits' },
  { name: 'allowedIps', label: 'IP allowlist', help: 'Comma-separated addresses or CIDR ranges the partner connects from; empty: anywhere', kind: 'text', target: 'limits' },
  { name: 'tokenPerMinute', label: 'Token requests per minute', help: '1–100000; empty: the server default (TOKEN_RATE_LIMIT_CLIENT); raise it for conformance kits', kind: 'integer', min: 1, max: 100_000, target: 'limits' },
  {
    name: 'policy',
    label: 'Partner access policy',
    help: 'internal (the payer\'s own systems; default), provider-access (CMS Provider Access: attributed members, no money, from 2016) or payer-to-payer (CMS Payer-to-Payer: matched, consenting members, five years)',
    kind: 'text',
    target: 'client',
  },
  { name: 'organization', label: 'Organization (SYSTEM|VALUE)', help: 'Whom the partner acts for: an NPI or TIN (provider-access), the payer\'s identifier (payer-to-payer)', kind: 'text', target: 'client' },
];

/** JSON schema of one field's value (null: the server default). */
export function fieldSchema(f: ClientField): Record<string, unknown> {
  if (f.kind === 'text') return { type: ['string', 'null'], maxLength: 4000, description: f.help };
  return { type: [f.kind, 'null'], ...(f.min !== undefined ? { minimum: f.min } : {}), ...(f.max !== undefined ? { maximum: f.max } : {}), description: f.help };
}
