/**
 * Da Vinci ATR list maintenance on an attribution Group (ATR `atr-group`, PDex
 * `pdex-provider-group`): `Group/[id]/$member-add`, `$member-remove` and
 * `$confirm-attribution-list`. The payer maintains its lists, so only internal clients may
 * call them (a partner client gets 403). Each change is a new version of the Group written
 * through the normal write path, so the partner-access index follows it at once.
 *
 * - $member-add: the member (`memberId` or `patientReference`), the attributed provider
 *   (`providerNpi` or `providerReference`), optionally `attributionPeriod` and
 *   `coverageReference`. A member already attributed to that provider has its entry updated
 *   (changeType `changed`); otherwise an entry is added (changeType `new`).
 * - $member-remove: removes the member's entries, narrowed by provider and coverage when
 *   given; 422 when the list holds no such entry.
 * - $confirm-attribution-list: attributionListStatus `final`. A later add or remove reopens
 *   a final list (`open`): a changed list is no longer the confirmed one (a draft stays draft).
 */
import { ForbiddenError, InvalidError, NotFoundError, UnprocessableError } from '../errors.js';
import { ATR_LIST_STATUS, ATR_PROFILE, NPI_SYSTEM, PDEX_PROVIDER_GROUP } from '../fhir/partner-index.js';
import type { Resource } from '../fhir/validation.js';
import type { FhirResponse, TenantContext } from '../interactions/context.js';
import { resourceResponse, versionUrl } from '../interactions/respond.js';
import { performWrites } from '../interactions/writes.js';
import { inTransaction } from '../store/database.js';
import { findByIdentifier, readCurrent } from '../store/resources.js';
import type pg from 'pg';
import { one, readParameters, type ParameterValues, type ParametersSpec } from './parameters.js';

type Json = Record<string, any>;

const ATR = 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/';
export const ATR_CHANGE_TYPE = `${ATR}ext-changeType`;
export const ATR_COVERAGE_REFERENCE = `${ATR}ext-coverageReference`;
export const ATR_ATTRIBUTED_PROVIDER = `${ATR}ext-attributedProvider`;

export type AttributionOperation = 'member-add' | 'member-remove' | 'confirm-attribution-list';

const MEMBER_SPEC: ParametersSpec = {
  memberId: { min: 0, max: 1, value: ['Identifier'] },
  providerNpi: { min: 0, max: 1, value: ['Identifier'] },
  patientReference: { min: 0, max: 1, value: ['Reference'] },
  providerReference: { min: 0, max: 1, value: ['Reference'] },
  coverageReference: { min: 0, max: 1, value: ['Reference'] },
};
const SPECS: Record<AttributionOperation, ParametersSpec> = {
  'member-add': { ...MEMBER_SPEC, attributionPeriod: { min: 0, max: 1, value: ['Period'] } },
  'member-remove': MEMBER_SPEC,
  'confirm-attribution-list': {},
};

const PROVIDER_TYPES = ['Practitioner', 'Organization', 'PractitionerRole'];

function ext(list: Json[] | undefined, url: string): Json | undefined {
  return list?.find((e) => e.url === url);
}

/** `Type/id` of a literal reference to one of `types` that exists on this server; 422 otherwise. */
async function existing(db: pg.PoolClient, tenant: string, ref: Json, types: string[], param: string): Promise<string> {
  const m = /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(String(ref.reference ?? ''));
  if (!m || !types.includes(m[1])) throw new InvalidError(`${param} must be a literal reference to ${types.join(' or ')} (Type/id)`, [param], 'value');
  const found = await readCurrent(db, tenant, m[1], m[2]);
  if (!found || found.deleted) throw new UnprocessableError(`${param}: ${m[1]}/${m[2]} does not exist on this server`);
  return `${m[1]}/${m[2]}`;
}

/** The one resource of `types` carrying the identifier; 422 when none or several. */
async function byIdentifier(db: pg.PoolClient, tenant: string, id: Json, types: string[], param: string): Promise<string> {
  if (typeof id.value !== 'string') throw new InvalidError(`${param} needs a value`, [param], 'required');
  const found: string[] = [];
  for (const t of types) for (const x of await findByIdentifier(db, tenant, t, id.system, id.value)) found.push(`${t}/${x}`);
  if (found.length !== 1) throw new UnprocessableError(`${param}: ${found.length ? 'several resources carry' : 'no resource carries'} the identifier ${id.system ?? ''}|${id.value}`);
  return found[0];
}

/** The one given of two alternative parameters (`required`: one of them must be). */
async function either(values: ParameterValues, a: string, b: string, required: boolean, resolve: (name: string, v: Json) => Promise<string>): Promise<string | undefined> {
  const va = one(values, a)?.value;
  const vb = one(values, b)?.value;
  if (va && vb) throw new InvalidError(`Give ${a} or ${b}, not both`, ['Parameters'], 'invalid');
  if (!va && !vb) {
    if (required) throw new InvalidError(`${a} or ${b} is required`, ['Parameters'], 'required');
    return undefined;
  }
  return va ? resolve(a, va) : resolve(b, vb!);
}

function withListStatus(g: Json, status: 'open' | 'final'): void {
  const others = ((g.extension ?? []) as Json[]).filter((e) => e.url !== ATR_LIST_STATUS);
  g.extension = [...others, { url: ATR_LIST_STATUS, valueCode: status }];
}

async function changeMembers(db: pg.PoolClient, tenant: string, g: Json, op: 'member-add' | 'member-remove', values: ParameterValues): Promise<void> {
  const patient = (await either(values, 'memberId', 'patientReference', true, (n, v) => (n === 'memberId' ? byIdentifier(db, tenant, v, ['Patient'], n) : existing(db, tenant, v, ['Patient'], n))))!;
  const provider = await either(values, 'providerNpi', 'providerReference', op === 'member-add', (n, v) =>
    n === 'providerNpi' ? byIdentifier(db, tenant, { system: v.system ?? NPI_SYSTEM, value: v.value }, ['Practitioner', 'Organization'], n) : existing(db, tenant, v, PROVIDER_TYPES, n),
  );
  const coverageRef = one(values, 'coverageReference')?.value;
  const coverage = coverageRef ? await existing(db, tenant, coverageRef, ['Coverage'], 'coverageReference') : undefined;
  const members = (g.member ?? []) as Json[];
  const matches = (m: Json) =>
    m.entity?.reference === patient &&
    (!provider || ext(m.extension, ATR_ATTRIBUTED_PROVIDER)?.valueReference?.reference === provider) &&
    (op === 'member-add' || !coverage || ext(m.extension, ATR_COVERAGE_REFERENCE)?.valueReference?.reference === coverage);
  if (op === 'member-remove') {
    const kept = members.filter((m) => !matches(m));
    if (kept.length === members.length) throw new UnprocessableError(`${patient} is not on this attribution list${provider ? ` with ${provider}` : ''}`);
    if (kept.length) g.member = kept;
    else delete g.member;
  } else {
    const period = one(values, 'attributionPeriod')?.value;
    const entry: Json = {
      extension: [
        { url: ATR_CHANGE_TYPE, valueCode: 'new' },
        ...(coverage ? [{ url: ATR_COVERAGE_REFERENCE, valueReference: { reference: coverage } }] : []),
        { url: ATR_ATTRIBUTED_PROVIDER, valueReference: { reference: provider } },
      ],
      entity: { reference: patient },
      ...(period ? { period } : {}),
    };
    const at = members.findIndex(matches);
    if (at >= 0) {
      entry.extension[0].valueCode = 'changed';
      members[at] = entry;
    } else members.push(entry);
    g.member = members;
  }
  g.quantity = ((g.member ?? []) as Json[]).length;
  if (ext(g.extension, ATR_LIST_STATUS)?.valueCode === 'final') withListStatus(g, 'open');
}

export async function attributionChange(ctx: TenantContext, groupId: string, op: AttributionOperation, body: unknown): Promise<FhirResponse> {
  const access = ctx.access!;
  if (access.policy.kind !== 'internal') throw new ForbiddenError(`$${op}: attribution lists are maintained by the payer's own systems; this client is registered under the ${access.policy.kind} policy`);
  access.require('Group', 'u');
  const values = body === undefined && op === 'confirm-attribution-list' ? new Map() : readParameters(body, SPECS[op]);
  const [out] = await inTransaction(ctx.pool, async (client) => {
    const current = await readCurrent(client, ctx.tenant, 'Group', groupId);
    if (!current || current.deleted) throw new NotFoundError(`Group/${groupId} is not known`);
    const g = JSON.parse(current.content!) as Json;
    const profiles = ((g.meta?.profile ?? []) as string[]).map((p) => p.split('|')[0]);
    if (!profiles.includes(ATR_PROFILE) && !profiles.includes(PDEX_PROVIDER_GROUP)) {
      throw new UnprocessableError(`Group/${groupId} is not an attribution list (profile ${ATR_PROFILE} or ${PDEX_PROVIDER_GROUP})`);
    }
    if (op === 'confirm-attribution-list') withListStatus(g, 'final');
    else await changeMembers(client, ctx.tenant, g, op, values);
    delete g.meta.versionId;
    delete g.meta.lastUpdated;
    return performWrites(client, ctx.tenant, [{ method: 'PUT', type: 'Group', id: groupId, resource: g as Resource, ifMatch: current.version }]);
  });
  return resourceResponse(200, out, versionUrl(ctx, out));
}
