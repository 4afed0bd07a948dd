/**
 * Partner access policies (CMS-0057-F): the rule a client's every interaction is served
 * under. `internal` is the payer's own systems and vendors (no restriction beyond scopes);
 * `provider-access` a provider organisation pulling its attributed members' data;
 * `payer-to-payer` another health plan pulling the members it matched, with their consent.
 */
import { InvalidError } from '../errors.js';

export const POLICY_KINDS = ['internal', 'provider-access', 'payer-to-payer'] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

/** An organisation by identifier: an NPI or TIN for a provider, the payer's id for a health plan. */
export interface Organization {
  system: string;
  value: string;
}

export interface PartnerPolicy {
  kind: PolicyKind;
  /** Whom the client acts for; required for the two partner policies. */
  organization?: Organization;
  /** The client: a payer-to-payer client sees only the members it matched itself. */
  clientId: string;
}

/** A partner policy, i.e. one that restricts (everything but `internal`). */
export type RestrictingPolicy = PartnerPolicy & { kind: Exclude<PolicyKind, 'internal'>; organization: Organization };

export function isRestricting(p: PartnerPolicy | undefined): p is RestrictingPolicy {
  return p !== undefined && p.kind !== 'internal';
}

export function parsePolicyKind(text: string): PolicyKind {
  if (!(POLICY_KINDS as readonly string[]).includes(text)) throw new InvalidError(`--policy must be one of ${POLICY_KINDS.join(', ')}`);
  return text as PolicyKind;
}

/** `SYSTEM|VALUE` → an organisation identifier. */
export function parseOrganization(text: string): Organization {
  const bar = text.lastIndexOf('|');
  const system = text.slice(0, bar).trim();
  const value = text.slice(bar + 1).trim();
  if (bar <= 0 || !system || !value) throw new InvalidError("--organization must be SYSTEM|VALUE, e.g. 'http://hl7.org/fhir/sid/us-npi|1234567893'");
  return { system, value };
}

/** Checks that a partner policy names its organisation (the policy means nothing without it). */
export function assertPolicy(kind: PolicyKind, organization: Organization | undefined): void {
  if (kind !== 'internal' && !organization) throw new InvalidError(`The ${kind} policy needs --organization SYSTEM|VALUE (whom the client acts for)`);
}

/** The policy as the audit trail names it: `provider-access http://…|123`. */
export function describePolicy(p: PartnerPolicy): string {
  return p.organization ? `${p.kind} ${p.organization.system}|${p.organization.value}` : p.kind;
}
