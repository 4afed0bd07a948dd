/**
 * Whether the HRex Consent sent with a member match can be honoured, and the Consent this
 * server stores for the matched member. The check is made before any member is looked up,
 * so its answer (a 422 naming the unmet term) says nothing about whether a member exists.
 *
 * Honoured: status `active`; `provision.type = permit`; a `provision.period` with a start and
 * an end that covers now; exactly one HRex policy uri (`#regular` or `#sensitive`); a
 * `performer`; a `source[x]` (the original consent document); a source actor (role
 * `performer`: the disclosing payer) and a recipient actor (role `IRCP`) whose identifier is
 * the requesting client's organisation (src/fhir/partner-index.ts grants to that identifier).
 */
import { hasPurpose, policyUri, purposeCategory } from '../fhir/consents.js';
import { HREX_CONSENT_POLICY } from '../fhir/partner-index.js';
import type { Resource } from '../fhir/validation.js';
import type { Organization } from '../policy/partner-policy.js';

type Json = Record<string, any>;

function roles(actor: Json): string[] {
  return ((actor.role?.coding ?? []) as Json[]).map((c) => c.code);
}

/** The instant a FHIR date/dateTime starts (`start`) or ends (`end`), or NaN. */
function instant(value: unknown, end: boolean): number {
  if (typeof value !== 'string') return Number.NaN;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return Date.parse(`${value}T00:00:00Z`) + (end ? 86_400_000 : 0);
  if (/^\d{4}(-\d{2})?$/.test(value)) {
    const [y, m] = value.split('-').map(Number);
    return end ? (m ? Date.UTC(y, m, 1) : Date.UTC(y + 1, 0, 1)) : Date.UTC(y, (m ?? 1) - 1, 1);
  }
  return Date.parse(value);
}

/** The first term the consent fails, as text safe to show the client; undefined when it can be honoured. */
export function consentProblem(consent: Resource, organization: Organization | undefined, now: Date): string | undefined {
  const c = consent as Json;
  if (c.status !== 'active') return `its status is '${String(c.status)}', not 'active'`;
  if (c.provision?.type !== 'permit') return 'provision.type is not permit';
  const start = instant(c.provision?.period?.start, false);
  const end = instant(c.provision?.period?.end, true);
  if (Number.isNaN(start) || Number.isNaN(end)) return 'provision.period needs both a start and an end';
  if (start > now.getTime() || end <= now.getTime()) return 'provision.period does not cover today';
  const uris = ((c.policy ?? []) as Json[]).map((p) => p.uri).filter((u) => typeof u === 'string');
  const known = uris.filter((u) => u === policyUri('regular') || u === policyUri('sensitive'));
  if (uris.length !== 1 || known.length !== 1) return `policy must hold exactly one uri, ${HREX_CONSENT_POLICY}#regular or #sensitive`;
  if (!Array.isArray(c.performer) || !c.performer.length) return 'performer is missing';
  if (c.sourceReference === undefined && c.sourceAttachment === undefined) return 'source[x] (the original consent) is missing';
  const actors = (c.provision?.actor ?? []) as Json[];
  if (!actors.some((a) => roles(a).includes('performer'))) return 'provision.actor has no source (role performer: the disclosing payer)';
  const recipients = actors.filter((a) => roles(a).includes('IRCP'));
  if (!recipients.length) return 'provision.actor has no recipient (role IRCP)';
  if (organization) {
    const named = recipients.some((a) => a.reference?.identifier?.system === organization.system && a.reference?.identifier?.value === organization.value);
    if (!named) return "the recipient (IRCP) actor's identifier is not the requesting organisation";
  }
  return undefined;
}

/**
 * The Consent as stored for the matched member: the member's own Patient reference in
 * place of the MemberPatient's, the PDex `payer-to-payer` purpose among its categories,
 * server-assigned id and meta.
 */
export function consentForMember(consent: Resource, memberPatientId: string | undefined, patientId: string): Resource {
  const from = memberPatientId ? `Patient/${memberPatientId}` : undefined;
  const to = `Patient/${patientId}`;
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (!node || typeof node !== 'object') return node;
    const out: Json = {};
    for (const [k, v] of Object.entries(node as Json)) out[k] = k === 'reference' && v === from ? to : rewrite(v);
    return out;
  };
  const { id: _id, meta, ...rest } = rewrite(consent) as Json;
  const stored: Json = { ...rest, resourceType: 'Consent', patient: { ...(rest.patient ?? {}), reference: to } };
  if (Array.isArray(meta?.profile)) stored.meta = { profile: meta.profile };
  if (!hasPurpose(stored, 'payer-to-payer')) stored.category = [...((stored.category ?? []) as Json[]), purposeCategory('payer-to-payer')];
  return stored as Resource;
}
