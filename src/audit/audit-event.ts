/**
 * An audit record as a FHIR R4 AuditEvent (read-only view; the table is the record).
 * `subtype` carries both the FHIR restful-interaction code and this server's own
 * interaction name, so `subtype=search-type` and `subtype=export-kickoff` both work.
 */
import type { Interaction } from '../http/interaction.js';
import type { ChainedRecord } from './record.js';

export const INTERACTION_SYSTEM = 'urn:payer-fhir:interaction';
export const CLIENT_SYSTEM = 'urn:payer-fhir:client';
const RESTFUL = 'http://hl7.org/fhir/restful-interaction';

/** The FHIR restful-interaction code of each interaction, where one exists. */
const RESTFUL_CODE: Partial<Record<Interaction, string>> = {
  read: 'read',
  vread: 'vread',
  history: 'history-instance',
  search: 'search-type',
  create: 'create',
  update: 'update',
  delete: 'delete',
  batch: 'batch',
  capabilities: 'capabilities',
  'export-kickoff': 'operation',
  'export-status': 'operation',
  'export-cancel': 'operation',
  'export-download': 'operation',
  'view-run': 'operation',
  'member-match': 'operation',
  'bulk-member-match': 'operation',
  'bulk-member-match-status': 'operation',
  'bulk-member-match-cancel': 'operation',
  'attribution-change': 'operation',
};

/** The AuditEvent.action (C/R/U/D/E) of each interaction. */
function action(i: Interaction): string {
  if (i === 'create') return 'C';
  if (i === 'update') return 'U';
  if (i === 'delete' || i === 'export-cancel' || i === 'bulk-member-match-cancel') return 'D';
  if (i === 'attribution-change') return 'U';
  if (i === 'read' || i === 'vread' || i === 'history' || i === 'search' || i === 'capabilities' || i === 'discovery' || i === 'export-download') return 'R';
  return 'E';
}

/** AuditEvent.outcome: 0 success, 4 minor failure (client error), 8 serious failure (server error). */
export function outcomeCode(status: number): '0' | '4' | '8' {
  return status >= 500 ? '8' : status >= 400 ? '4' : '0';
}

export function auditEventId(r: { tenant: string; seq: number }): string {
  return String(r.seq);
}

export function toAuditEvent(r: ChainedRecord): Record<string, unknown> {
  const codes = [
    ...(RESTFUL_CODE[r.interaction] ? [{ system: RESTFUL, code: RESTFUL_CODE[r.interaction] }] : []),
    { system: INTERACTION_SYSTEM, code: r.interaction },
  ];
  const end = new Date(r.recorded.getTime() + Math.round(r.durationUs / 1000));
  const entity: Record<string, unknown>[] = [];
  const detail = [
    { type: 'http-status', valueString: String(r.status) },
    ...(r.resources !== null ? [{ type: 'resources', valueString: String(r.resources) }] : []),
    ...(r.bytes !== null ? [{ type: 'bytes', valueString: String(r.bytes) }] : []),
    { type: 'request', valueString: `${r.method} ${r.path}` },
  ];
  if (r.resourceType && r.resourceId) entity.push({ what: { reference: `${r.resourceType}/${r.resourceId}` }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2' } });
  else if (r.resourceType) entity.push({ what: { display: r.resourceType }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2' } });
  if (r.jobId) entity.push({ what: { identifier: { system: 'urn:payer-fhir:export-job', value: r.jobId } }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '4' } });
  if (r.query !== null) {
    entity.push({ type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2' }, query: Buffer.from(r.query).toString('base64') });
  }
  entity.push({ what: { display: 'HTTP request' }, detail });
  return {
    resourceType: 'AuditEvent',
    id: auditEventId(r),
    meta: { lastUpdated: end.toISOString() },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: codes,
    action: action(r.interaction),
    period: { start: r.recorded.toISOString(), end: end.toISOString() },
    recorded: r.recorded.toISOString(),
    outcome: outcomeCode(r.status),
    ...(r.detail ? { outcomeDesc: r.detail } : {}),
    agent: [
      {
        type: { coding: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110150', display: 'Application' }] },
        who: r.clientId ? { identifier: { system: CLIENT_SYSTEM, value: r.clientId } } : { display: 'unauthenticated' },
        requestor: true,
        // The partner access policy the request was served under, as a policy URI (with the organisation it acted for).
        ...(r.policy ? { policy: [`urn:payer-fhir:partner-policy:${encodeURIComponent(r.policy.split(' ')[0])}`], name: r.policy } : {}),
        ...(r.sourceIp ? { network: { address: r.sourceIp, type: '2' } } : {}),
      },
    ],
    source: {
      observer: { display: 'payer-fhir' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    entity,
  };
}
