/**
 * Member choices about sharing, as FHIR Consents (payer-domain.md §7):
 * - Provider Access opt-out (PDex `pdex-provider-consent`): about 3.5% of members deny the
 *   payer's disclosing their data to providers through the Provider Access API; about one in
 *   ten of them later withdraws it — the opt-out's period is closed and a `permit` Consent
 *   starts the next day. A member is opted in by default, so most members have no Consent.
 * - Payer-to-payer opt-in (HRex `hrex-consent`): most members whose coverage began within the
 *   last two years (newborns aside) came from another health plan. Their Patient keeps the
 *   prior plan's member id (`use` old, `assigner` = that plan by NAIC code), and the member
 *   signed a consent, within a week of enrolling, for the prior plan (`performer`) to disclose
 *   to this plan (`IRCP`) — under the `#regular` policy (no sensitive data) or `#sensitive`.
 * Decisions come from a stream of the member's own, so they disturb no other draw.
 */
import type { Resource } from '../fhir/validation.js';
import { type MemberContext, nextId, patientRef } from './context.js';
import { AS_OF, isoDate, isoDateTime } from './dates.js';
import { pad } from './identifiers.js';
import { HREX_POLICY, PROFILE, SYS, concept, ref, type Json } from './vocabulary.js';

/** Other health plans members arrive from (synthetic names and NAIC codes). */
export const PRIOR_PAYERS: readonly { name: string; naic: string; prefix: string }[] = [
  { name: 'Cascade Mutual Health', naic: '60011', prefix: 'CMH' },
  { name: 'Willamette Valley Health Plan', naic: '60024', prefix: 'WVH' },
  { name: 'Columbia Basin Health', naic: '60037', prefix: 'CBH' },
  { name: 'Pacific Crest Health Plan', naic: '60042', prefix: 'PCH' },
  { name: 'Evergreen State Medicaid Plan', naic: '60059', prefix: 'ESM' },
  { name: 'Northwest Employers Health Trust', naic: '60063', prefix: 'NEH' },
];

export const OPT_OUT_RATE = 0.035;
export const WITHDRAWAL_RATE = 0.1;
/** Share of members new in the last two years who came from another plan. */
export const PRIOR_PLAN_RATE = 0.7;

const PRIVACY = concept(SYS.consentScope, 'patient-privacy', 'Privacy Consent');
const DISCLOSURE = concept(SYS.actCode, 'IDSCL', 'information disclosure');
const DISCLOSE = [concept(SYS.consentAction, 'disclose', 'Disclose')];
const SOURCE_ROLE = concept(SYS.provenanceParticipant, 'performer', 'Performer');
const RECIPIENT_ROLE = concept(SYS.participationType, 'IRCP', 'information recipient');

/** The last day the member was covered and alive. */
function lastCoveredDay(ctx: MemberContext): number {
  const last = ctx.spans[ctx.spans.length - 1];
  return Math.min(last.end ?? AS_OF, ctx.p.death !== undefined ? ctx.p.death - 1 : AS_OF);
}

function providerAccessConsent(ctx: MemberContext, type: 'deny' | 'permit', day: number, minute: number): Resource {
  const payer = ref('Organization', ctx.dir.payer.id, ctx.dir.payer.name);
  return {
    resourceType: 'Consent',
    id: nextId(ctx, 'consent'),
    meta: { profile: [...PROFILE.pdexProviderConsent] },
    status: 'active',
    scope: PRIVACY,
    category: [DISCLOSURE, concept(SYS.pdexConsentPurpose, 'provider-access', 'Provider Access API')],
    patient: patientRef(ctx),
    dateTime: isoDateTime(day, minute),
    performer: [patientRef(ctx)],
    organization: [payer],
    policyRule: concept(SYS.consentPolicy, 'cric', 'Common Rule Informed Consent'),
    provision: { type, period: { start: isoDate(day) }, actor: [{ role: SOURCE_ROLE, reference: payer }], action: DISCLOSE },
  };
}

/** Opt-out (and its withdrawal); true when the member is opted out on the as-of day. */
function providerAccessChoice(ctx: MemberContext, rng: MemberContext['rng']): boolean {
  if (!rng.chance(OPT_OUT_RATE)) return false;
  // Opt-outs are collected from members while enrolled, over the last three years.
  const from = Math.max(ctx.spans[0].start, AS_OF - 3 * 365);
  const to = lastCoveredDay(ctx);
  if (from > to) return false;
  const day = rng.int(from, to);
  const optOut = providerAccessConsent(ctx, 'deny', day, rng.int(8 * 60, 18 * 60));
  ctx.out.push(optOut);
  if (!rng.chance(WITHDRAWAL_RATE) || day + 30 > to) return true;
  const back = rng.int(day + 30, to);
  ((optOut.provision as Json).period as Json).end = isoDate(back - 1);
  ctx.out.push(providerAccessConsent(ctx, 'permit', back, rng.int(8 * 60, 18 * 60)));
  return false;
}

/** A member new to the plan from another one: the prior member id and the HRex consent. */
function priorPlan(ctx: MemberContext, rng: MemberContext['rng']): void {
  const first = ctx.spans[0];
  if (first.start < AS_OF - 730 || first.start - ctx.p.birth < 60 || !rng.chance(PRIOR_PLAN_RATE)) return;
  const { dir, hh, p } = ctx;
  const choices = PRIOR_PAYERS.filter((x) => x.name !== dir.payer.name && x.naic !== dir.payer.naic);
  const prior = rng.pick(choices);
  const priorDomain = `${prior.name.toLowerCase().replace(/[^a-z]+/g, '')}.example`;
  const patient = ctx.out.find((r) => r.resourceType === 'Patient')!;
  (patient.identifier as Json[]).push({
    use: 'old',
    type: concept(SYS.v2_0203, 'MB', 'Member Number'),
    system: `https://${priorDomain}/fhir/sid/member-id`,
    value: `${prior.prefix}${pad((hh.index * 13 + 3_000_000) % 100_000_000, 8)}${pad(p.position + 1, 2)}`,
    period: { end: isoDate(first.start - 1) },
    assigner: { identifier: { system: SYS.naic, value: prior.naic }, display: prior.name },
  });
  // The new plan asks the old one within a week of coverage starting; many sign at enrolment.
  const day = Math.min(AS_OF, first.start + rng.int(-10, 6));
  const id = nextId(ctx, 'consent');
  ctx.out.push({
    resourceType: 'Consent',
    id,
    meta: { profile: [...PROFILE.hrexConsent] },
    status: 'active',
    scope: PRIVACY,
    category: [DISCLOSURE, concept(SYS.pdexConsentPurpose, 'payer-to-payer', 'Payer-to-Payer API')],
    patient: patientRef(ctx),
    dateTime: isoDateTime(day, rng.int(8 * 60, 18 * 60)),
    performer: [patientRef(ctx)],
    organization: [ref('Organization', dir.payer.id, dir.payer.name)],
    sourceAttachment: { contentType: 'application/pdf', url: `https://${dir.payer.domain}/member-consents/${id}.pdf`, title: 'Payer-to-payer data exchange authorization', creation: isoDateTime(day, 9 * 60) },
    policy: [{ uri: rng.chance(0.7) ? HREX_POLICY.regular : HREX_POLICY.sensitive }],
    provision: {
      type: 'permit',
      period: { start: isoDate(day), end: isoDate(day + 5 * 365) },
      actor: [
        { role: SOURCE_ROLE, reference: { identifier: { system: SYS.naic, value: prior.naic }, display: prior.name } },
        { role: RECIPIENT_ROLE, reference: { identifier: { system: SYS.naic, value: dir.payer.naic }, display: dir.payer.name } },
      ],
      action: DISCLOSE,
    },
  });
}

/** The member's consents, into ctx.out; returns whether the member is opted out of Provider Access. */
export function memberConsents(ctx: MemberContext): { optedOut: boolean } {
  const rng = ctx.p.rng.fork('consents');
  priorPlan(ctx, rng);
  return { optedOut: providerAccessChoice(ctx, rng) };
}
