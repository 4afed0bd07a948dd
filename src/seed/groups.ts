/**
 * Groups, built once every member has been generated: one attribution list per primary-care
 * and specialty organisation — each currently enrolled member is attributed to the organisation
 * where they had most of their office visits (ties go to the most recent) — and condition
 * registries (diabetes, heart failure, COPD) for population-health cohorts. Only ids and a few
 * days per member are kept until then, so memory grows slowly with size.
 *
 * An attribution list is the payer–provider contract's Group, both a Da Vinci ATR `atr-group`
 * and a PDex `pdex-provider-group`: the organisation's NPI and TIN and the contract id as
 * identifiers, the organisation as `characteristic` (code `pdexprovidergroup`), the contract's
 * validity, and per member the coverage, the attributed provider, the attribution period and
 * the ATR change type. Members who left the plan (or died) since the last plan year ended stay
 * on the list, `inactive` with `changeType` dropped and a `period.end`. Members opted out of Provider
 * Access are left off and only counted (`members-opted-out`).
 */
import type { Resource } from '../fhir/validation.js';
import type { ChronicKey } from './conditions.js';
import { CHRONIC_BY_KEY } from './conditions.js';
import type { MemberContext } from './context.js';
import { AS_OF, isoDate, startOfYear, yearOf } from './dates.js';
import type { Directory, ProviderOrg } from './directory.js';
import { ATR_EXT, PDEX_EXT, PROFILE, SYS, concept, ref, type Json } from './vocabulary.js';

const REGISTRIES: readonly (readonly [ChronicKey, string])[] = [
  ['diabetes', 'Diabetes registry'],
  ['heartFailure', 'Heart failure registry'],
  ['copd', 'COPD registry'],
];

interface Entry {
  patient: string;
  since: number;
  coverage?: string;
  /** Last attributed day, for a member dropped from the list. */
  until?: number;
}

/** The contracts run three plan years from the as-of year's (so they are in force after it). */
const CONTRACT_START = startOfYear(yearOf(AS_OF));
const CONTRACT_END = startOfYear(yearOf(AS_OF) + 3) - 1;
const PROVIDER_GROUP = concept(SYS.pdexMemberAttribution, 'pdexprovidergroup', 'PDex Provider Group');

export class GroupCollector {
  private readonly attributed = new Map<string, Entry[]>();
  private readonly optedOut = new Map<string, number>();
  private readonly registries = new Map<ChronicKey, Entry[]>(REGISTRIES.map(([k]) => [k, []]));

  constructor(private readonly dir: Directory) {}

  /** `optedOut`: the member has opted out of Provider Access (consents.ts). */
  add(ctx: MemberContext, optedOut = false): void {
    const last = ctx.spans[ctx.spans.length - 1];
    const current = last.end === undefined && ctx.p.death === undefined;
    const lastDay = Math.min(last.end ?? AS_OF, ctx.p.death ?? AS_OF);
    // Those who left at the end of the previous plan year are on this year's list as dropped.
    if (current || lastDay >= CONTRACT_START - 1) {
      let best: { org: { id: string }; count: number; last: number } | undefined;
      for (const v of ctx.visitsByOrg.values()) {
        if (v.count === 0) continue;
        if (!best || v.count > best.count || (v.count === best.count && v.last > best.last)) best = v;
      }
      if (best && optedOut) {
        this.optedOut.set(best.org.id, (this.optedOut.get(best.org.id) ?? 0) + 1);
      } else if (best) {
        const list = this.attributed.get(best.org.id) ?? [];
        const entry: Entry = { patient: ctx.p.id, since: Math.min(lastDay, Math.max(last.start, best.last - 730)), coverage: last.coverageId };
        if (!current) entry.until = lastDay;
        list.push(entry);
        this.attributed.set(best.org.id, list);
      }
    }
    for (const [key] of REGISTRIES) {
      const id = ctx.problems.get(key);
      const c = ctx.p.chronic.find((x) => x.def.key === key);
      if (id && c && ctx.p.death === undefined) this.registries.get(key)!.push({ patient: ctx.p.id, since: Math.max(c.onset, ctx.p.birth) });
    }
  }

  private attributionList(org: ProviderOrg): Resource {
    const entries = this.attributed.get(org.id) ?? [];
    const group: Resource = {
      resourceType: 'Group',
      id: `attribution-${org.id}`,
      meta: { profile: [...PROFILE.pdexProviderGroup] },
      extension: [
        { url: ATR_EXT.listStatus, valueCode: 'final' },
        { url: ATR_EXT.contractPeriod, valuePeriod: { start: isoDate(CONTRACT_START), end: isoDate(CONTRACT_END) } },
        { url: PDEX_EXT.membersOptedOut, valueQuantity: { value: this.optedOut.get(org.id) ?? 0 } },
      ],
      identifier: [
        { type: concept(SYS.v2_0203, 'NPI', 'National provider identifier'), system: SYS.npi, value: org.npi },
        { type: concept(SYS.v2_0203, 'TAX', 'Tax ID number'), system: SYS.tin, value: org.tin },
        { system: this.dir.systems.contract, value: `PC-${org.npi}-${yearOf(CONTRACT_START)}` },
      ],
      active: true,
      type: 'person',
      actual: true,
      code: PROVIDER_GROUP,
      name: `Attributed members: ${org.name}`,
      managingEntity: ref('Organization', this.dir.payer.id, this.dir.payer.name),
      characteristic: [{ code: PROVIDER_GROUP, valueReference: ref('Organization', org.id, org.name), exclude: false, period: { start: isoDate(CONTRACT_START) } }],
      quantity: entries.filter((e) => e.until === undefined).length,
    };
    if (entries.length) {
      group.member = entries.map((e) => {
        const changeType = e.until !== undefined ? 'dropped' : e.since >= CONTRACT_START ? 'new' : 'nochange';
        const period: Json = { start: isoDate(e.since) };
        if (e.until !== undefined) period.end = isoDate(e.until);
        return {
          extension: [
            { url: ATR_EXT.changeType, valueCode: changeType },
            { url: ATR_EXT.coverageReference, valueReference: ref('Coverage', e.coverage!) },
            { url: ATR_EXT.attributedProvider, valueReference: ref('Organization', org.id) },
          ],
          entity: ref('Patient', e.patient),
          period,
          inactive: e.until !== undefined,
        };
      });
    }
    return group;
  }

  *resources(): Generator<Resource> {
    for (const org of this.dir.orgs) if (org.kind === 'primary' || org.kind === 'specialty') yield this.attributionList(org);
    for (const [key, name] of REGISTRIES) {
      const def = CHRONIC_BY_KEY[key];
      const entries = this.registries.get(key)!;
      const group: Json = {
        resourceType: 'Group',
        id: `cohort-${key.toLowerCase()}`,
        active: true,
        type: 'person',
        actual: true,
        code: concept(SYS.snomed, def.snomed[0], def.snomed[1]),
        name,
        managingEntity: ref('Organization', this.dir.payer.id, this.dir.payer.name),
        characteristic: [{ code: concept(SYS.snomed, '439401001', 'Diagnosis (observable entity)'), valueCodeableConcept: concept(SYS.icd10cm, def.icd10[0], def.icd10[1]), exclude: false }],
        quantity: entries.length,
      };
      if (entries.length) group.member = entries.map((e) => ({ entity: ref('Patient', e.patient), period: { start: isoDate(e.since) } }));
      yield group as Resource;
    }
  }
}
