/**
 * `Group/[id]/$davinci-data-export` (Da Vinci ATR 2.1.0 / PDex 2.1.0): a Group export of an
 * attribution list with an `exportType`:
 * - `hl7.fhir.us.davinci-pdex#provider-download` (the default) and `#provider-snapshot`:
 *   everything the client may receive of the list's members;
 * - `#provider-delta`: for each member, only what changed since that member's
 *   `lastTransmitted` (members never sent get everything);
 * - `hl7.fhir.us.davinci-atr`: the attribution list itself with its members' Patients,
 *   Coverages and the directory (`_type` must then include Group, Patient and Coverage).
 * A completed export records, on each exported member of the list, when it was transmitted
 * and what was asked (`lastTransmitted`, `lastResources`, `lastFilters`), in a new version of
 * the Group written in the same transaction that completes the job.
 */
import type pg from 'pg';
import { InvalidError } from '../errors.js';
import type { Resource } from '../fhir/validation.js';
import { writeResources } from '../store/resources.js';
import type { ExportParams } from './parameters.js';

const PDEX_SD = 'http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/';
export const LAST_TRANSMITTED = `${PDEX_SD}base-ext-last-transmission`;
export const LAST_TYPES = `${PDEX_SD}base-ext-last-types`;
export const LAST_FILTERS = `${PDEX_SD}base-ext-last-typefilter`;

export const EXPORT_TYPES = [
  'hl7.fhir.us.davinci-pdex#provider-download',
  'hl7.fhir.us.davinci-pdex#provider-snapshot',
  'hl7.fhir.us.davinci-pdex#provider-delta',
  'hl7.fhir.us.davinci-atr',
] as const;
export type DavinciExportType = (typeof EXPORT_TYPES)[number];

/** What the ATR export type sends when `_type` is not given (ATR 2.1.0: SHALL Group, Patient, Coverage; SHOULD the rest). */
const ATR_TYPES = ['Group', 'Patient', 'Coverage', 'RelatedPerson', 'Practitioner', 'PractitionerRole', 'Organization', 'Location'];
const ATR_REQUIRED = ['Group', 'Patient', 'Coverage'];

/** Takes `exportType` out of the kick-off parameters (the rest are Bulk Data's) and checks it. */
export function takeExportType(pairs: [string, string][]): { exportType: DavinciExportType; rest: [string, string][] } {
  const given = pairs.filter(([k]) => k === 'exportType').map(([, v]) => v.trim());
  if (given.length > 1) throw new InvalidError('exportType may be given once', ['exportType']);
  const exportType = (given[0] ?? EXPORT_TYPES[0]) as DavinciExportType;
  if (!EXPORT_TYPES.includes(exportType)) throw new InvalidError(`exportType: '${given[0]}' is not one of ${EXPORT_TYPES.join(', ')}`, ['exportType']);
  return { exportType, rest: pairs.filter(([k]) => k !== 'exportType') };
}

/** Applies the export type to the parsed parameters. */
export function applyExportType(params: ExportParams, exportType: DavinciExportType): void {
  params.davinci = { exportType };
  if (exportType !== 'hl7.fhir.us.davinci-atr') return;
  if (!params.types) params.types = [...ATR_TYPES];
  // The attribution list itself, not every Group its members belong to.
  if (params.groupId) params.typeFilters.Group = [`_id=${params.groupId}`];
  const missing = ATR_REQUIRED.filter((t) => !params.types!.includes(t));
  if (missing.length) throw new InvalidError(`exportType hl7.fhir.us.davinci-atr needs _type to include ${missing.join(', ')}`, ['_type']);
}

type Json = Record<string, any>;

/** Each member's `lastTransmitted` on the Group (Patient id → instant), for a delta export. */
export function lastTransmitted(group: Json): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of (group.member ?? []) as Json[]) {
    const id = /(?:^|\/)Patient\/([^/]+)$/.exec(m.entity?.reference ?? '')?.[1];
    const when = (m.extension as Json[] | undefined)?.find((e) => e.url === LAST_TRANSMITTED)?.valueDateTime;
    if (id && typeof when === 'string') out.set(id, when);
  }
  return out;
}

function setExtension(member: Json, url: string, value: Json): void {
  const list = ((member.extension as Json[] | undefined) ?? []).filter((e) => e.url !== url);
  list.push({ url, ...value });
  member.extension = list;
}

/**
 * Inside the transaction that completes the job: stamps the exported members of the Group
 * with the transmission (the job's transactionTime, its `_type` and `_typeFilter`).
 */
export async function recordTransmission(client: pg.PoolClient, job: { tenant: string; params: ExportParams; transaction_time: Date; id: string }): Promise<void> {
  if (!job.params.davinci || !job.params.groupId) return;
  const { rows: members } = await client.query<{ patient_id: string }>('SELECT patient_id FROM export_member WHERE job_id = $1', [job.id]);
  const sent = new Set(members.map((m) => m.patient_id));
  const { rows } = await client.query<{ content: string }>(`SELECT content FROM resource WHERE tenant = $1 AND type = 'Group' AND id = $2 AND NOT deleted FOR UPDATE`, [
    job.tenant,
    job.params.groupId,
  ]);
  if (!rows[0]) return;
  const group = JSON.parse(rows[0].content) as Json;
  let changed = false;
  for (const m of (group.member ?? []) as Json[]) {
    const id = /(?:^|\/)Patient\/([^/]+)$/.exec(m.entity?.reference ?? '')?.[1];
    if (!id || !sent.has(id)) continue;
    setExtension(m, LAST_TRANSMITTED, { valueDateTime: job.transaction_time.toISOString() });
    if (job.params.types) setExtension(m, LAST_TYPES, { valueString: job.params.types.join(',') });
    const filters = Object.values(job.params.typeFilters).flat();
    if (filters.length) setExtension(m, LAST_FILTERS, { valueString: filters.join(',') });
    changed = true;
  }
  if (changed) await writeResources(client, job.tenant, [{ method: 'update', type: 'Group', id: job.params.groupId, resource: group as Resource }]);
}
