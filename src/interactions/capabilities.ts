/**
 * The CapabilityStatement at `metadata`, generated from what this server implements — the
 * resource types of the R4 schema and the interactions registered in server.ts — so it
 * cannot drift from the code. Later features (search parameters, operations, security)
 * add themselves here.
 */
import { createRequire } from 'node:module';
import { restSecurity } from '../auth/discovery.js';
import { additionalResourceTypes, resourceTypes } from '../fhir/schema.js';
import { searchParams } from '../fhir/search-parameters.js';
import { tokenUrl } from '../http/urls.js';
import type { ExportConfig } from '../config.js';
import type { FhirResponse, TenantContext } from './context.js';

const require = createRequire(import.meta.url);
const pkg = require('../../../package.json') as { version: string };

/** Interactions every resource type supports (see the routes in server.ts). */
export const TYPE_INTERACTIONS = ['read', 'vread', 'update', 'delete', 'history-instance', 'history-type', 'create', 'search-type'] as const;
/** Whole-system interactions. */
export const SYSTEM_INTERACTIONS = ['transaction', 'batch', 'history-system', 'search-system'] as const;

const cache = new Map<string, string>();

const BULK = 'http://hl7.org/fhir/uv/bulkdata';
const ATR = 'http://hl7.org/fhir/us/davinci-atr';
const PDEX = 'http://hl7.org/fhir/us/davinci-pdex';
const HREX = 'http://hl7.org/fhir/us/davinci-hrex';
const SQL_ON_FHIR = 'http://sql-on-fhir.org';
/** The CapabilityStatements this server meets (besides Bulk Data): PDex server, ATR producer. */
const INSTANTIATES = [`${BULK}/CapabilityStatement/bulk-data`, `${PDEX}/CapabilityStatement/pdex-server`, `${ATR}/CapabilityStatement/atr-producer`];

/** Operations per resource type ('system' for the whole server), each with its canonical definition. */
const OPERATIONS: Record<string, { name: string; definition: string }[]> = {
  system: [
    { name: 'export', definition: `${BULK}/OperationDefinition/export` },
    // SQL on FHIR v2: in R4 mode the export is a system-level operation.
    { name: 'viewdefinition-export', definition: `${SQL_ON_FHIR}/OperationDefinition/$viewdefinition-export` },
  ],
  // SQL on FHIR v2 at type and instance level ($run is the older name of $viewdefinition-run).
  ViewDefinition: [
    { name: 'run', definition: `${SQL_ON_FHIR}/OperationDefinition/$viewdefinition-run` },
    { name: 'viewdefinition-run', definition: `${SQL_ON_FHIR}/OperationDefinition/$viewdefinition-run` },
    { name: 'viewdefinition-export', definition: `${SQL_ON_FHIR}/OperationDefinition/$viewdefinition-export` },
  ],
  // Declared under the operation name and the OperationDefinition name, for clients that look
  // either up (CS-05, CS-06, CS-06b).
  Patient: [
    { name: 'export', definition: `${BULK}/OperationDefinition/patient-export` },
    { name: 'patient-export', definition: `${BULK}/OperationDefinition/patient-export` },
    { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
    { name: 'member-match', definition: `${HREX}/OperationDefinition/member-match` },
  ],
  Group: [
    { name: 'export', definition: `${BULK}/OperationDefinition/group-export` },
    { name: 'group-export', definition: `${BULK}/OperationDefinition/group-export` },
    { name: 'davinci-data-export', definition: `${ATR}/OperationDefinition/davinci-data-export` },
    { name: 'member-add', definition: `${ATR}/OperationDefinition/member-add` },
    { name: 'member-remove', definition: `${ATR}/OperationDefinition/member-remove` },
    { name: 'confirm-attribution-list', definition: `${ATR}/OperationDefinition/confirm-attribution-list` },
    { name: 'bulk-member-match', definition: `${PDEX}/OperationDefinition/bulk-member-match` },
  ],
};

/** The server's export choices, as the Bulk Data IG asks servers to document them (CS-09). */
function exportDocumentation(cfg: ExportConfig): string {
  return [
    'Bulk Data 2.0 $export at system, Patient and Group level (GET, or POST with Parameters), with _outputFormat, _since, _until, _type, _elements, patient, includeAssociatedData (LatestProvenanceResources, RelevantProvenanceResources), _typeFilter (full search semantics; several filters for a type are OR-ed), organizeOutputBy=Patient and allowPartialManifests.',
    'Exported types: every stored type the access token may read (system level); at Patient and Group level the R4 Patient compartment plus the Practitioner, PractitionerRole, Organization, Location, Medication and Device resources the exported resources reference, and Provenance whose target is in the exported compartments.',
    'transactionTime is fixed at kick-off and bounds the export, so the next _since continues with no gap and no overlap; resources deleted after _since are listed in the manifest deleted array. _since applies to every resource: a patient who joined a Group after _since does not bring older data.',
    'Group membership expands nested Groups and skips inactive members and members whose period does not include the kick-off time.',
    `Files expire ${Math.round(cfg.retentionSeconds / 3600)} h after completion (the manifest's Expires); DELETE on the status URL cancels a job at once. A client may run ${cfg.maxJobsPerClient} exports at a time (429 with Retry-After beyond); completed and deleted jobs do not count. Poll at the Retry-After given (${cfg.retryAfterSeconds} s); only bursts far beyond it are answered 429.`,
    'Downloads need the bearer token of the client that started the export, support gzip and HTTP Range, and are application/fhir+ndjson.',
    'SQL on FHIR v2 ViewDefinitions: $viewdefinition-run (also $run) answers synchronously in json, ndjson, csv or parquet; $viewdefinition-export (POST with Prefer: respond-async, view parameters by viewReference or viewResource, _format ndjson, csv or parquet, header, patient, group, _since, clientTrackingId) runs on the export jobs above, its status URL answering with the specification\'s Parameters (status, output per view with one location per file). viewReference accepts ViewDefinition/[id] (relative or absolute) and canonical urls of stored views.',
    'CMS-0057-F Provider Access and Payer-to-Payer: a client registered under the provider-access or payer-to-payer policy receives, through every interaction and export, only the members and data its policy allows (attributed and not opted out, or matched with an opt-in consent in force; dates of service from 2016-01-01, or the last five years), with ExplanationOfBenefit served as its CARIN Blue Button Basis profile; members outside the policy are answered as absent.',
  ].join(' ');
}

function referenceParams(type: string): string[] {
  return searchParams(type).filter((p) => p.type === 'reference').map((p) => p.code).sort();
}

export function capabilityStatement(base: string, tokenEndpoint: string, started: Date, exportConfig: ExportConfig): string {
  let json = cache.get(base);
  if (!json) {
    json = JSON.stringify({
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: started.toISOString(),
      publisher: 'payer-fhir',
      kind: 'instance',
      instantiates: INSTANTIATES,
      software: { name: 'payer-fhir', version: pkg.version },
      implementation: { description: 'Payer System Access API', url: base },
      fhirVersion: '4.0.1',
      format: ['application/fhir+json', 'json'],
      rest: [
        {
          mode: 'server',
          documentation: exportDocumentation(exportConfig),
          security: restSecurity(tokenEndpoint),
          // R4's types and the ones this server adds (ViewDefinition).
          resource: [...resourceTypes, ...additionalResourceTypes].sort().map((type) => ({
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
            ...(OPERATIONS[type] ? { operation: OPERATIONS[type] } : {}),
          })),
          interaction: SYSTEM_INTERACTIONS.map((code) => ({ code })),
          operation: OPERATIONS.system,
        },
      ],
    });
    cache.set(base, json);
  }
  return json;
}

const STARTED = new Date();

export function metadata(ctx: TenantContext): FhirResponse {
  return { status: 200, body: capabilityStatement(ctx.base, tokenUrl(ctx.config.publicUrl, ctx.tenant), STARTED, ctx.config.export) };
}
