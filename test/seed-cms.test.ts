// The synthetic plan's data for the CMS-0057-F flows (issue 12, item 8): PDex prior
// authorizations, PDex provider attribution lists, Provider Access opt-outs and payer-to-payer
// consents, and sensitive-data security labels — shapes, shares and cross-references, on 1,200
// generated members. No database: the generator is a pure function of the seed and the size.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { SECURITY_LABEL_SYSTEM, SENSITIVE_LABELS, labelsForIcd10 } from '../src/fhir/sensitivity.js';
import { generatePopulation } from '../src/seed/generator.js';

const MEMBERS = 1200;
const AS_OF = '2025-12-31';
const YEAR_BEFORE = '2025-01-01';
const PDEX = 'http://hl7.org/fhir/us/davinci-pdex/';
const PA_PROFILE = `${PDEX}StructureDefinition/pdex-priorauthorization`;
const NAIC = 'urn:oid:2.16.840.1.113883.6.300';
const ICD10 = 'http://hl7.org/fhir/sid/icd-10-cm';

const ext = (x: any, url: string) => (x.extension ?? []).find((e: any) => e.url === url);
const codes = (r: any) => new Set<string>((r.meta?.security ?? []).map((s: any) => s.code));
const icd = (cc: any) => cc?.coding?.find((c: any) => c.system === ICD10)?.code as string | undefined;
const purpose = (c: any) => c.category.find((x: any) => x.coding[0].system === `${PDEX}CodeSystem/pdex-consent-api-purpose`)?.coding[0].code;

function within(name: string, value: number, lo: number, hi: number): void {
  assert.ok(value >= lo && value <= hi, `${name} = ${value.toFixed(4)}, outside [${lo}, ${hi}]`);
}

describe('seed: data for Provider Access and Payer-to-Payer', () => {
  const byKey = new Map<string, any>();
  const of = (type: string) => [...byKey.values()].filter((r) => r.resourceType === type);
  let priorAuths: any[];
  let consents: any[];
  let payer: any;
  before(() => {
    for (const r of generatePopulation({ seed: 'cms', members: MEMBERS }) as Iterable<any>) byKey.set(`${r.resourceType}/${r.id}`, r);
    priorAuths = of('ExplanationOfBenefit').filter((e) => e.use === 'preauthorization');
    consents = of('Consent');
    payer = byKey.get('Organization/payer');
  });

  describe('PDex prior authorizations', () => {
    it('are pdex-priorauthorization EOBs with the request, its coverage and its service dates', () => {
      within('prior authorizations per member', priorAuths.length / MEMBERS, 0.1, 0.6);
      for (const e of priorAuths) {
        assert.deepEqual(e.meta.profile, [PA_PROFILE]);
        assert.ok(['active', 'cancelled'].includes(e.status), e.status);
        assert.equal(e.insurer.reference, 'Organization/payer');
        assert.match(e.provider.reference, /^Organization\/org-/);
        assert.ok(byKey.has(e.provider.reference) && byKey.has(e.patient.reference));
        const cov = byKey.get(e.insurance[0].coverage.reference);
        assert.equal(cov.beneficiary.reference, e.patient.reference);
        assert.ok(e.billablePeriod.start >= cov.period.start && (!cov.period.end || e.billablePeriod.start <= cov.period.end), `${e.id} outside its coverage`);
        assert.ok(e.created.slice(0, 10) <= AS_OF && e.created.slice(0, 10) <= e.billablePeriod.start);
        const item = e.item[0];
        assert.ok(['http://www.ama-assn.org/go/cpt', 'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets'].includes(item.productOrService.coding[0].system));
        const served = item.servicedDate ?? item.servicedPeriod.start;
        assert.equal(served, e.billablePeriod.start);
        assert.ok(icd(e.diagnosis[0].diagnosisCodeableConcept));
      }
    });

    it('carry the review decision: approved, denied, pending and cancelled, each with its own elements', () => {
      const seen = new Map<string, number>();
      for (const e of priorAuths) {
        const adj = e.item[0].adjudication;
        const review = ext(adj[0], `${PDEX}StructureDefinition/extension-reviewAction`);
        const code = ext(review, `${PDEX}StructureDefinition/extension-reviewActionCode`).valueCodeableConcept.coding[0];
        assert.equal(code.system, 'https://codesystem.x12.org/005010/306');
        seen.set(code.code, (seen.get(code.code) ?? 0) + 1);
        const when = ext(adj[0], `${PDEX}StructureDefinition/base-ext-when-adjudicated`)?.valueDateTime;
        const category = (slice: string) => adj.find((a: any) => a.category.coding[0].code === slice);
        if (code.code === 'A4') {
          assert.equal(e.outcome, 'queued');
          assert.equal(when, undefined);
          assert.equal(e.preAuthRefPeriod, undefined);
          continue;
        }
        assert.equal(e.outcome, 'complete');
        assert.ok(when && when.slice(0, 10) >= e.created.slice(0, 10) && when.slice(0, 10) <= AS_OF, `${e.id}: decided ${when}`);
        if (code.code === 'A3') {
          assert.equal(e.status, 'active');
          assert.equal(category('denialreason').reason.coding[0].system, 'https://x12.org/codes/claim-adjustment-reason-codes');
          assert.equal(e.preAuthRef, undefined);
        } else {
          assert.equal(e.status, code.code === 'C' ? 'cancelled' : 'active');
          assert.equal(e.preAuthRef[0], e.identifier[0].value);
          assert.equal(e.preAuthRefPeriod[0].start, e.billablePeriod.start);
          assert.ok(ext(e.item[0], 'http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-itemPreAuthIssueDate').valueDate <= when.slice(0, 10));
          assert.equal(category('allowedunits').value, e.item[0].quantity.value);
        }
      }
      for (const c of ['A1', 'A3', 'A4', 'C']) assert.ok(seen.get(c), `no prior authorization with review action ${c}: ${JSON.stringify([...seen])}`);
      within('approved share', (seen.get('A1') ?? 0) / priorAuths.length, 0.65, 0.92);
    });

    it('some changed status within the last year before the as-of day, some long before', () => {
      const last = priorAuths.map((e) => ext(e.item[0].adjudication[0], `${PDEX}StructureDefinition/base-ext-when-adjudicated`)?.valueDateTime?.slice(0, 10) ?? e.created.slice(0, 10));
      assert.ok(last.filter((d) => d >= YEAR_BEFORE).length >= 5);
      assert.ok(last.filter((d) => d < '2023-01-01').length >= 20);
    });
  });

  describe('attribution lists (ATR atr-group + PDex pdex-provider-group)', () => {
    it('name the provider organisation by NPI, TIN and characteristic, and count opted-out members', () => {
      const lists = of('Group').filter((g) => g.id.startsWith('attribution-'));
      assert.ok(lists.length >= 2);
      for (const g of lists) {
        assert.deepEqual(g.meta.profile, ['http://hl7.org/fhir/us/davinci-atr/StructureDefinition/atr-group', `${PDEX}StructureDefinition/pdex-provider-group`]);
        const org = byKey.get(g.characteristic[0].valueReference.reference);
        assert.equal(org.resourceType, 'Organization');
        assert.deepEqual(g.characteristic[0].code.coding[0], { system: `${PDEX}CodeSystem/PdexMemberAttributionCS`, code: 'pdexprovidergroup', display: 'PDex Provider Group' });
        for (const [type, system] of [['NPI', 'http://hl7.org/fhir/sid/us-npi'], ['TAX', 'urn:oid:2.16.840.1.113883.4.4']]) {
          const mine = g.identifier.find((i: any) => i.type?.coding[0].code === type);
          const theirs = org.identifier.find((i: any) => i.system === system);
          assert.equal(mine.system, system);
          assert.equal(mine.value, theirs.value, `${g.id}: ${type}`);
        }
        assert.equal(typeof ext(g, `${PDEX}StructureDefinition/base-ext-members-opted-out`).valueQuantity.value, 'number');
        assert.ok(ext(g, 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-contractValidityPeriod').valuePeriod.end > AS_OF);
        assert.equal(g.quantity, (g.member ?? []).filter((m: any) => !m.inactive).length);
        for (const m of g.member ?? []) {
          const cov = byKey.get(ext(m, 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-coverageReference').valueReference.reference);
          assert.equal(cov.beneficiary.reference, m.entity.reference);
          assert.equal(ext(m, 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider').valueReference.reference, `Organization/${org.id}`);
          const change = ext(m, 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-changeType').valueCode;
          assert.equal(m.inactive, change === 'dropped');
          assert.equal(m.period.end !== undefined, m.inactive, `${g.id} ${m.entity.reference}`);
          if (m.inactive) assert.ok(m.period.end >= '2024-12-31' && m.period.end < AS_OF && m.period.start <= m.period.end, JSON.stringify(m.period));
        }
      }
      const dropped = lists.flatMap((g) => (g.member ?? []).filter((m: any) => m.inactive));
      assert.ok(dropped.length >= 5, `${dropped.length} members whose attribution ended`);
    });

    it('opted-out members are counted, never listed', () => {
      const lists = of('Group').filter((g) => g.id.startsWith('attribution-'));
      const listed = new Set(lists.flatMap((g) => (g.member ?? []).map((m: any) => m.entity.reference)));
      const optedOut = new Set(consents.filter((c) => purpose(c) === 'provider-access' && c.provision.type === 'deny' && !c.provision.period.end).map((c) => c.patient.reference));
      assert.ok(optedOut.size > 0);
      for (const p of optedOut) assert.ok(!listed.has(p), `${p} opted out but listed`);
      const counted = lists.reduce((n, g) => n + ext(g, `${PDEX}StructureDefinition/base-ext-members-opted-out`).valueQuantity.value, 0);
      assert.ok(counted > 0 && counted <= optedOut.size, `${counted} counted of ${optedOut.size}`);
    });
  });

  describe('consents', () => {
    it('Provider Access opt-outs: 2–5% of members, PDex shape; withdrawals close the opt-out and permit the day after', () => {
      const pa = consents.filter((c) => purpose(c) === 'provider-access');
      const members = new Set(pa.map((c) => c.patient.reference));
      within('members with an opt-out', members.size / MEMBERS, 0.02, 0.05);
      for (const c of pa) {
        assert.deepEqual(c.meta.profile, [`${PDEX}StructureDefinition/pdex-provider-consent`]);
        assert.equal(c.status, 'active');
        assert.equal(c.scope.coding[0].code, 'patient-privacy');
        assert.deepEqual(c.category.map((x: any) => x.coding[0].code), ['IDSCL', 'provider-access']);
        assert.equal(c.performer[0].reference, c.patient.reference);
        assert.equal(c.organization[0].reference, 'Organization/payer');
        assert.ok(c.provision.period.start <= AS_OF && c.dateTime.startsWith(c.provision.period.start));
      }
      const permits = pa.filter((c) => c.provision.type === 'permit');
      assert.ok(permits.length >= 1);
      for (const p of permits) {
        const deny = pa.find((c) => c.patient.reference === p.patient.reference && c.provision.type === 'deny');
        const dayBefore = new Date(Date.parse(`${p.provision.period.start}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
        assert.equal(deny.provision.period.end, dayBefore);
      }
    });

    it('payer-to-payer: members from a prior plan carry its member id and an HRex consent naming it and this plan', () => {
      const p2p = consents.filter((c) => purpose(c) === 'payer-to-payer');
      within('members from a prior plan', p2p.length / MEMBERS, 0.03, 0.12);
      const ourNaic = payer.identifier.find((i: any) => i.system === NAIC).value;
      const firstCoverage = new Map<string, string>();
      for (const x of of('Coverage')) {
        const was = firstCoverage.get(x.beneficiary.reference);
        if (!was || x.period.start < was) firstCoverage.set(x.beneficiary.reference, x.period.start);
      }
      const policies = new Set<string>();
      for (const c of p2p) {
        assert.deepEqual(c.meta.profile, ['http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/hrex-consent']);
        assert.deepEqual(c.category.map((x: any) => x.coding[0].code), ['IDSCL', 'payer-to-payer']);
        assert.equal(c.provision.type, 'permit');
        assert.ok(c.provision.period.start && c.provision.period.end > AS_OF);
        assert.equal(c.provision.action[0].coding[0].code, 'disclose');
        const [source, recipient] = c.provision.actor;
        assert.equal(source.role.coding[0].code, 'performer');
        assert.equal(recipient.role.coding[0].code, 'IRCP');
        assert.deepEqual(recipient.reference.identifier, { system: NAIC, value: ourNaic });
        assert.notEqual(source.reference.identifier.value, ourNaic);
        policies.add(c.policy[0].uri.split('#')[1]);
        const patient = byKey.get(c.patient.reference);
        const old = patient.identifier.find((i: any) => i.use === 'old');
        assert.deepEqual(old.assigner.identifier, source.reference.identifier);
        const first = firstCoverage.get(c.patient.reference)!;
        assert.ok(first >= '2024-01-01', `${c.patient.reference} joined ${first}`);
        assert.ok(old.period.end < first);
      }
      assert.deepEqual([...policies].sort(), ['regular', 'sensitive']);
    });
  });

  describe('sensitive-data security labels', () => {
    it('one list of v3-ActCode codes, each with display and reason', () => {
      assert.deepEqual(SENSITIVE_LABELS.map((l) => l.code), ['ETH', 'SUD', 'BH', 'MH', 'PSY', 'HIV', 'STD', 'SEX', 'GDIS']);
      for (const l of SENSITIVE_LABELS) assert.ok(l.display && l.why && l.icd10.length);
      assert.deepEqual(labelsForIcd10('F11.20').map((l) => l.code), ['ETH', 'SUD', 'BH']);
      assert.deepEqual(labelsForIcd10('F32.9').map((l) => l.code), ['BH', 'MH']);
      assert.deepEqual(labelsForIcd10('I10'), []);
    });

    it('Conditions carry exactly the labels of their diagnosis, at realistic prevalence', () => {
      const problems = new Map<string, Set<string>>();
      for (const c of of('Condition')) {
        const code = icd(c.code)!;
        assert.deepEqual([...codes(c)], labelsForIcd10(code).map((l) => l.code), `${c.id} (${code})`);
        for (const s of c.meta.security ?? []) assert.equal(s.system, SECURITY_LABEL_SYSTEM);
        if (c.category[0].coding[0].code === 'problem-list-item') {
          const set = problems.get(code) ?? new Set();
          set.add(c.subject.reference);
          problems.set(code, set);
        }
      }
      const share = (code: string) => (problems.get(code)?.size ?? 0) / MEMBERS;
      within('depression', share('F32.9'), 0.04, 0.12);
      within('alcohol + opioid use disorder', share('F10.20') + share('F11.20'), 0.008, 0.04);
      within('HIV', share('B20'), 0.0005, 0.012);
      for (const code of ['STD', 'SEX', 'GDIS', 'HIV', 'ETH']) assert.ok(of('Condition').some((c) => codes(c).has(code)), `no Condition labelled ${code}`);
    });

    it('what reveals a labelled diagnosis is labelled: encounters, claims, prescriptions, fills, notes; vital signs are not', () => {
      const labelled = (ref: string) => codes(byKey.get(ref)).size > 0;
      let checked = 0;
      for (const e of of('ExplanationOfBenefit')) {
        const expect = new Set<string>((e.diagnosis ?? []).flatMap((d: any) => labelsForIcd10(icd(d.diagnosisCodeableConcept) ?? '').map((l) => l.code)));
        if (e.prescription && labelled(e.prescription.reference)) for (const c of codes(byKey.get(e.prescription.reference))) expect.add(c);
        assert.deepEqual([...codes(e)].sort(), [...expect].sort(), e.id);
        for (const i of e.item) for (const enc of i.encounter ?? []) if (expect.size) for (const c of expect) assert.ok(codes(byKey.get(enc.reference)).has(c), `${enc.reference} lacks ${c} of ${e.id}`);
        checked += expect.size ? 1 : 0;
      }
      assert.ok(checked > 100);
      for (const d of of('MedicationDispense')) assert.deepEqual([...codes(d)], [...codes(byKey.get(d.authorizingPrescription[0].reference))], d.id);
      for (const m of of('MedicationRequest')) if (m.reasonReference && labelled(m.reasonReference[0].reference)) assert.ok(codes(m).size, m.id);
      for (const n of of('DocumentReference')) assert.deepEqual([...codes(n)], [...codes(byKey.get(n.context.encounter[0].reference))], n.id);
      for (const o of of('Observation')) if (o.category[0].coding[0].code === 'vital-signs') assert.equal(codes(o).size, 0, o.id);
      const screened = of('Observation').filter((o) => codes(o).size);
      assert.ok(screened.some((o) => o.code.coding[0].code === '44261-6') && screened.some((o) => o.code.coding[0].code === '20447-9'));
    });
  });
});
