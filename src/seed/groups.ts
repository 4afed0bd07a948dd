/**
 * Groups, built once every member has been generated: one Da Vinci ATR attribution list per
 * primary-care and specialty organisation — each currently enrolled member is attributed to
 * the organisation where they had most of their office visits (ties go to the most recent) —
 * and condition registries (diabetes, heart failure, COPD) for population-health cohorts.
 * Only ids and a few days per member are kept until then, so memory grows slowly with size.
 */
import type { Resource } from '../fhir/validation.js';
import type { ChronicKey } from './conditions.js';
import { CHRONIC_BY_KEY } from './conditions.js';
import type { MemberContext } from './context.js';
import { AS_OF, isoDate, yearOf } from './dates.js';
import type { Directory } from './directory.js';
import { ATR_EXT, PROFILE, SYS, concept, ref, type Json } from './vocabulary.js';

const REGISTRIES: readonly (readonly [ChronicKey, string])[] = [
  ['diabetes', 'Diabetes registry'],
  ['heartFailure', 'Heart failure registry'],
  ['copd', 'COPD registry'],
];

interface Entry {
  patient: string;
  since: number;
  coverage?: string;
}

export class GroupCollector {
  private readonly attributed = new Map<string, Entry[]>();
  private readonly registries = new Map<ChronicKey, Entry[]>(REGISTRIES.map(([k]) => [k, []]));

  constructor(private readonly dir: Directory) {}

  add(ctx: MemberContext): void {
    const current = ctx.spans.find((s) => s.end === undefined);
    if (current && ctx.p.death === undefined) {
      let best: { org: { id: string }; count: number; last: number } | undefined;
      for (const v of ctx.visitsByOrg.values()) {
        if (v.count === 0) continue;
        if (!best || v.count > best.count || (v.count === best.count && v.last > best.last)) best = v;
      }
      if (best) {
        const list = this.attributed.get(best.org.id) ?? [];
        list.push({ patient: ctx.p.id, since: Math.max(current.start, best.last - 730), coverage: current.coverageId });
        this.attributed.set(best.org.id, list);
      }
    }
    for (const [key] of REGISTRIES) {
      const id = ctx.problems.get(key);
      const c = ctx.p.chronic.find((x) => x.def.key === key);
      if (id && c && ctx.p.death === undefined) this.registries.get(key)!.push({ patient: ctx.p.id, since: Math.max(c.onset, ctx.p.birth) });
    }
  }

  *resources(): Generator<Resource> {
    const year = yearOf(AS_OF);
    for (const org of this.dir.orgs) {
      if (org.kind !== 'primary' && org.kind !== 'specialty') continue;
      const entries = this.attributed.get(org.id) ?? [];
      const group: Resource = {
        resourceType: 'Group',
        id: `attribution-${org.id}`,
        meta: { profile: [...PROFILE.atrGroup] },
        extension: [
          { url: ATR_EXT.listStatus, valueCode: 'final' },
          { url: ATR_EXT.contractPeriod, valuePeriod: { start: `${year}-01-01`, end: `${year}-12-31` } },
        ],
        identifier: [{ type: concept(SYS.v2_0203, 'NPI', 'National provider identifier'), system: SYS.npi, value: org.npi }],
        active: true,
        type: 'person',
        actual: true,
        name: `Attributed members: ${org.name}`,
        managingEntity: ref('Organization', this.dir.payer.id, this.dir.payer.name),
        quantity: entries.length,
      };
      if (entries.length) {
        group.member = entries.map((e) => ({
          extension: [
            { url: ATR_EXT.changeType, valueCode: 'nochange' },
            { url: ATR_EXT.coverageReference, valueReference: ref('Coverage', e.coverage!) },
            { url: ATR_EXT.attributedProvider, valueReference: ref('Organization', org.id) },
          ],
          entity: ref('Patient', e.patient),
          period: { start: isoDate(e.since) },
        }));
      }
      yield group;
    }
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
