/**
 * HRex `POST [base]/Patient/$member-match` (HRex 1.1.0, used by PDex payer-to-payer).
 *
 * Who may call: payer-to-payer clients (a Consent is then required) and the payer's own
 * internal systems; a provider-access client is refused (403). Order of checks, so that a
 * refusal never depends on whether a member exists: policy and scope, the brute-force
 * throttle (429), the input (400), the consent's terms (422 naming the unmet term), and only
 * then the match — no match and several matches answer the same 422, and count as a failure.
 *
 * On a match, one transaction stores the Consent for the matched member (through the normal
 * write path, so the partner-access index makes it a payer-to-payer rule) and the
 * `member_match` row, in one statement; a failed match writes nothing but its failure count.
 */
import type pg from 'pg';
import { ForbiddenError, InvalidError, ThrottledError, UnprocessableError } from '../errors.js';
import type { FhirResponse, TenantContext } from '../interactions/context.js';
import { performWrites } from '../interactions/writes.js';
import type { Organization, PartnerPolicy } from '../policy/partner-policy.js';
import { inWriteTransaction } from '../store/database.js';
import { addFailure, addMatchRows, failuresThisHour, recordMatches, type MatchRow } from '../store/member-matches.js';
import { consentForMember, consentProblem } from './consent-terms.js';
import { findMember } from './matcher.js';
import { memberMatchInput, type MemberMatchInput } from './member-match-input.js';

/** The one answer for no match and for several: the caller cannot tell them apart. */
export const NO_MATCH = 'The member could not be matched';

const HOUR_MS = 3_600_000;

/** The caller may match members: not a provider-access client, and allowed to read Patients. */
export function assertMayMatch(ctx: TenantContext, operation: string): PartnerPolicy {
  const access = ctx.access!;
  const policy = access.policy;
  if (policy.kind === 'provider-access') {
    throw new ForbiddenError(`${operation} is for health plans (payer-to-payer) and the payer's own systems; this client is registered under the provider-access policy`);
  }
  access.require('Patient', 'r');
  return policy;
}

/** Refuses with 429 while the client's failed matches this hour (`failures`, or read now) are at the limit. */
export async function assertNotThrottled(ctx: TenantContext, clientId: string, now: Date, failures?: number): Promise<void> {
  const limit = ctx.config.memberMatch.failuresPerHour;
  failures ??= await failuresThisHour(ctx.pool, ctx.tenant, clientId, now);
  if (failures < limit) return;
  const retryAfter = Math.max(1, Math.ceil((HOUR_MS - (now.getTime() % HOUR_MS)) / 1000));
  const err = new ThrottledError(`Too many failed member matches this hour (limit ${limit}); retry after ${retryAfter} s`, retryAfter);
  err.auditDetail = `member matching throttled: ${failures} failed matches this hour (limit ${limit})`;
  throw err;
}

/** A member matched, to be stored: its input, the Patient it matched, and the client that asked. */
export interface Matched {
  input: MemberMatchInput;
  patientId: string;
}

/**
 * Stores matches in the caller's transaction: each Consent (for its matched member, through the
 * normal write path) and the `member_match` rows. Returns the Consent ids, in order (null without one).
 * `begun`: the transaction's clock when it was begun by inWriteTransaction.
 */
export async function storeMatches(client: pg.PoolClient, tenant: string, clientId: string, matches: Matched[], begun?: Date): Promise<(string | null)[]> {
  const withConsent = matches.filter((m) => m.input.consent);
  const rowsFor = (consentIds: (string | null)[]): MatchRow[] => {
    // The latest request for a member speaks for it (a member sent twice in one batch counts once).
    const rows = new Map(matches.map((m, i) => [m.patientId, { patientId: m.patientId, consentId: consentIds[i], coverageToLink: m.input.coverageToLink ? JSON.stringify(m.input.coverageToLink) : null }]));
    return [...rows.values()];
  };
  const consentIdsOf = (ids: string[]): (string | null)[] => {
    const byMatch = new Map(withConsent.map((m, i) => [m, ids[i]]));
    return matches.map((m) => byMatch.get(m) ?? null);
  };
  if (!withConsent.length) {
    await recordMatches(client, tenant, clientId, rowsFor(matches.map(() => null)));
    return matches.map(() => null);
  }
  // The member_match rows travel in the statement that writes the Consents.
  const written = await performWrites(
    client,
    tenant,
    withConsent.map((m) => ({ method: 'POST' as const, type: 'Consent', resource: consentForMember(m.input.consent!, m.input.patient.id, m.patientId) })),
    undefined,
    (stmt, ids) => addMatchRows(stmt, clientId, rowsFor(consentIdsOf(ids))),
    begun,
  );
  return consentIdsOf(written.map((w) => w.id));
}

/** The consent check of one member: the reason it cannot be honoured, or undefined. */
export function consentRefusal(input: MemberMatchInput, policy: PartnerPolicy, organization: Organization | undefined, now: Date): string | undefined {
  if (!input.consent) return policy.kind === 'payer-to-payer' ? 'a payer-to-payer client must send the member\'s Consent' : undefined;
  return consentProblem(input.consent, organization, now);
}

export interface MemberMatchOutcome {
  response: FhirResponse;
  patientId: string;
}

export async function memberMatch(ctx: TenantContext, body: unknown): Promise<MemberMatchOutcome> {
  const policy = assertMayMatch(ctx, '$member-match');
  const clientId = ctx.access!.clientId;
  const now = new Date();
  // The throttle's verdict comes first: a throttled client gets its 429 whatever its input, and
  // nothing is written or counted before the verdict. Its count is read by the statement that
  // looks the member up (by member id), or on its own when the input is refused or the lookup
  // takes another way.
  let input: MemberMatchInput;
  try {
    input = memberMatchInput(body);
    if (policy.kind === 'payer-to-payer' && !input.consent) {
      throw new InvalidError("Parameters: the parameter 'Consent' is required of a payer-to-payer client (HRex consent: the member's opt-in)", ['Parameters'], 'required');
    }
    const refusal = consentRefusal(input, policy, policy.organization, now);
    if (refusal) throw new UnprocessableError(`The Consent cannot be honoured: ${refusal}`, `member-match refused: the consent cannot be honoured (${refusal})`);
  } catch (err) {
    await assertNotThrottled(ctx, clientId, now);
    throw err;
  }
  let found: Awaited<ReturnType<typeof findMember>>;
  try {
    found = await findMember(ctx.pool, ctx.tenant, input, { clientId, at: now });
  } catch (err) {
    await assertNotThrottled(ctx, clientId, now);
    throw err;
  }
  await assertNotThrottled(ctx, clientId, now, found.failures);
  if (found.kind !== 'one') {
    const n = await addFailure(ctx.pool, ctx.tenant, clientId, now);
    const why = found.kind === 'none' ? 'no member matched' : 'several members matched';
    throw new UnprocessableError(NO_MATCH, `member-match failed: ${why} (failure ${n} of ${ctx.config.memberMatch.failuresPerHour} allowed this hour)`);
  }
  await inWriteTransaction(ctx.pool, (client, begun) => storeMatches(client, ctx.tenant, clientId, [{ input, patientId: found.patientId }], begun));
  const parameters = {
    resourceType: 'Parameters',
    parameter: [
      { name: 'MemberIdentifier', valueIdentifier: found.memberIdentifier },
      { name: 'MemberId', valueReference: { reference: `Patient/${found.patientId}` } },
    ],
  };
  return { response: { status: 200, body: JSON.stringify(parameters), resources: 1 }, patientId: found.patientId };
}
