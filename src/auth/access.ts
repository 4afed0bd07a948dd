/**
 * What the caller of a request may do: the granted scopes of its token, checked by each
 * interaction for the resource type and permission it needs (RS-02, RS-05, RS-07).
 */
import { ForbiddenError } from '../errors.js';
import type { PolicyRule } from '../policy/conditions.js';
import { describePolicy, isRestricting, type PartnerPolicy } from '../policy/partner-policy.js';
import type { ClientRecord } from './clients.js';
import { grantFor, parseScopes, type Permission, type Scope } from './scopes.js';

const PERMISSION_NAMES: Record<Permission, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

export class Access {
  readonly scopes: Scope[];
  /** The client's current registration (limits, allowlist), set on each authentication. */
  client?: ClientRecord;

  constructor(
    readonly clientId: string,
    readonly scopeText: string,
  ) {
    this.scopes = parseScopes(scopeText);
  }

  /** The partner access policy the client is served under (its current registration). */
  get policy(): PartnerPolicy {
    return { kind: this.client?.policy ?? 'internal', organization: this.client?.organization ?? undefined, clientId: this.clientId };
  }

  /**
   * The partner policy as applied at `now`, for the SQL of every interaction
   * (src/policy/conditions.ts); undefined under `internal`, which restricts nothing.
   */
  policyRule(now = new Date()): PolicyRule | undefined {
    const policy = this.policy;
    return isRestricting(policy) ? { policy, now } : undefined;
  }

  /** The policy as the audit record names it. */
  get policyName(): string {
    return describePolicy(this.policy);
  }

  /**
   * Requires `perm` on `type`; throws 403 insufficient_scope otherwise. Returns the granular
   * filters that limit what may be seen (OR-ed), or undefined when unrestricted.
   */
  require(type: string, perm: Permission): string[] | undefined {
    // The audit trail is opened only by scopes that name it: a wildcard granted for member data
    // must not let one partner read the access log of the others.
    const scopes = type === 'AuditEvent' ? this.scopes.filter((s) => s.type === 'AuditEvent') : this.scopes;
    const grant = grantFor(scopes, type, perm);
    if (!grant.allowed) {
      const needed = `system/${type}.${perm}`;
      throw new ForbiddenError(`The access token does not allow ${PERMISSION_NAMES[perm]} on ${type} (needs ${needed})`, `Bearer error="insufficient_scope", scope="${needed}"`);
    }
    return grant.filters;
  }
}
