/**
 * Console roles and what each may do. One table, read by the admin API's guard (403 beyond
 * it) and sent to the console (which shows no control a role may not use):
 * - admin: everything, tenants included;
 * - operator: partner applications, exports, alerts;
 * - auditor: read-only — reports, the audit trail and its chain verification (and the
 *   registry, exports and alerts to read, never to change).
 */
export const ROLES = ['admin', 'operator', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export type Permission =
  | 'overview'
  | 'clients:read'
  | 'clients:write'
  | 'exports:read'
  | 'exports:cancel'
  | 'alerts:read'
  | 'alerts:write'
  | 'reports:read'
  | 'audit:read'
  | 'audit:verify'
  | 'tenants:write';

const GRANTS: Record<Role, readonly Permission[]> = {
  admin: ['overview', 'clients:read', 'clients:write', 'exports:read', 'exports:cancel', 'alerts:read', 'alerts:write', 'reports:read', 'audit:read', 'audit:verify', 'tenants:write'],
  operator: ['overview', 'clients:read', 'clients:write', 'exports:read', 'exports:cancel', 'alerts:read', 'alerts:write'],
  auditor: ['overview', 'clients:read', 'exports:read', 'alerts:read', 'reports:read', 'audit:read', 'audit:verify'],
};

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function can(role: Role, permission: Permission): boolean {
  return GRANTS[role].includes(permission);
}

export function permissionsOf(role: Role): Permission[] {
  return [...GRANTS[role]];
}

/** A signed-in person as the admin API sees them. */
export interface Principal {
  email: string;
  role: Role;
  /** The one tenant this person may see; null: every tenant. */
  tenant: string | null;
  source: 'local' | 'oidc';
}

/** Whether `who` may see anything of `tenant` (tenant isolation: otherwise the tenant does not exist for them). */
export function seesTenant(who: Principal, tenant: string): boolean {
  return who.tenant === null || who.tenant === tenant;
}
