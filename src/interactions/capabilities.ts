/**
 * The CapabilityStatement at `metadata`, generated from what this server implements — the
 * resource types of the R4 schema and the interactions registered in server.ts — so it
 * cannot drift from the code. Later features (search parameters, operations, security)
 * add themselves here.
 */
import { createRequire } from 'node:module';
import { restSecurity } from '../auth/discovery.js';
import { resourceTypes } from '../fhir/schema.js';
import { searchParams } from '../fhir/search-parameters.js';
import { tokenUrl } from '../http/urls.js';
import type { FhirResponse, TenantContext } from './context.js';

const require = createRequire(import.meta.url);
const pkg = require('../../../package.json') as { version: string };

/** Interactions every resource type supports (see the routes in server.ts). */
export const TYPE_INTERACTIONS = ['read', 'vread', 'update', 'delete', 'history-instance', 'history-type', 'create', 'search-type'] as const;
/** Whole-system interactions. */
export const SYSTEM_INTERACTIONS = ['transaction', 'batch', 'history-system', 'search-system'] as const;

const cache = new Map<string, string>();

function referenceParams(type: string): string[] {
  return searchParams(type).filter((p) => p.type === 'reference').map((p) => p.code).sort();
}

export function capabilityStatement(base: string, tokenEndpoint: string, started: Date): string {
  let json = cache.get(base);
  if (!json) {
    json = JSON.stringify({
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: started.toISOString(),
      publisher: 'payer-fhir',
      kind: 'instance',
      software: { name: 'payer-fhir', version: pkg.version },
      implementation: { description: 'Payer System Access API', url: base },
      fhirVersion: '4.0.1',
      format: ['application/fhir+json', 'json'],
      rest: [
        {
          mode: 'server',
          security: restSecurity(tokenEndpoint),
          resource: [...resourceTypes].sort().map((type) => ({
            type,
            interaction: TYPE_INTERACTIONS.map((code) => ({ code })),
            versioning: 'versioned-update',
            readHistory: true,
            updateCreate: true,
            conditionalCreate: true,
            conditionalRead: 'not-supported',
            conditionalUpdate: false,
            conditionalDelete: 'not-supported',
            searchInclude: ['*', ...referenceParams(type).map((code) => `${type}:${code}`)],
            searchRevInclude: ['*'],
            // Exactly the parameters the search layer answers, with their official definitions.
            searchParam: searchParams(type)
              .sort((a, b) => a.code.localeCompare(b.code))
              .map((p) => ({ name: p.code, definition: p.url, type: p.type })),
          })),
          interaction: SYSTEM_INTERACTIONS.map((code) => ({ code })),
        },
      ],
    });
    cache.set(base, json);
  }
  return json;
}

const STARTED = new Date();

export function metadata(ctx: TenantContext): FhirResponse {
  return { status: 200, body: capabilityStatement(ctx.base, tokenUrl(ctx.config.publicUrl, ctx.tenant), STARTED) };
}
