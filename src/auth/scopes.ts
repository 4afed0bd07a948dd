/**
 * SMART scopes (checklist §1.5): parsing of v1 (`system/Patient.read`), v2
 * (`system/Observation.rs`) and granular v2 (`system/Observation.rs?category=…`) scopes,
 * granting (requested ∩ pre-authorized, TOK-62), and the permission a request needs.
 *
 * Internally every scope is a resource type (or `*`), a set of v2 permissions and an
 * optional search filter; v1 maps onto it (`read` = rs, `write` = cud, `*` = cruds).
 */
import { isStoredType } from '../fhir/schema.js';

export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
const ORDER: Permission[] = ['c', 'r', 'u', 'd', 's'];
const V1: Record<string, Permission[]> = { read: ['r', 's'], write: ['c', 'u', 'd'], '*': ['c', 'r', 'u', 'd', 's'] };

export interface Scope {
  context: 'system' | 'patient' | 'user';
  /** A resource type or `*`. */
  type: string;
  perms: Set<Permission>;
  /** The syntax the scope was written in; a grant answers in the syntax the client used (TOK-65). */
  syntax: 'v1' | 'v2';
  /** Granular filter in FHIR search syntax (without the `?`), e.g. `category=…|laboratory`. */
  filter?: string;
}

const SCOPE = /^(system|patient|user)\/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)(?:\?(.+))?$/;

/** Parses one scope; undefined for anything that is not a SMART resource scope (TOK-61). */
export function parseScope(text: string): Scope | undefined {
  const m = SCOPE.exec(text);
  if (!m) return undefined;
  const [, context, type, permText, filter] = m;
  let perms: Permission[];
  let syntax: 'v1' | 'v2';
  if (V1[permText]) {
    if (filter) return undefined; // granular filters are v2 only
    perms = V1[permText];
    syntax = 'v1';
  } else {
    // v2: a non-empty, in-order subset of c r u d s; anything else is not re-interpreted.
    let last = -1;
    perms = [];
    for (const ch of permText) {
      const i = ORDER.indexOf(ch as Permission);
      if (i <= last) return undefined;
      last = i;
      perms.push(ch as Permission);
    }
    syntax = 'v2';
  }
  return { context: context as Scope['context'], type, perms: new Set(perms), syntax, ...(filter ? { filter } : {}) };
}

export function parseScopes(text: string): Scope[] {
  return text
    .split(/\s+/)
    .filter(Boolean)
    .map(parseScope)
    .filter((s): s is Scope => s !== undefined);
}

/** Renders a scope in the given syntax (v1 only when its permissions have a v1 name). */
export function formatScope(s: Scope, syntax: 'v1' | 'v2' = s.syntax): string {
  const v2 = ORDER.filter((p) => s.perms.has(p)).join('');
  let perms = v2;
  if (syntax === 'v1' && !s.filter) {
    const v1 = Object.entries(V1).find(([, ps]) => ps.length === s.perms.size && ps.every((p) => s.perms.has(p)));
    if (v1) perms = v1[0];
  }
  return `${s.context}/${s.type}.${perms}${s.filter ? `?${s.filter}` : ''}`;
}

function intersect(req: Scope, allowed: Scope): Scope | undefined {
  if (req.context !== 'system' || allowed.context !== 'system') return undefined;
  if (allowed.type !== '*' && req.type !== '*' && allowed.type !== req.type) return undefined;
  const perms = new Set([...req.perms].filter((p) => allowed.perms.has(p)));
  if (perms.size === 0) return undefined;
  const type = req.type === '*' ? allowed.type : req.type;
  // Both filters must hold: repeating search parameters in one query means AND.
  const filters = [req.filter, allowed.filter].filter((f, i, all): f is string => !!f && all.indexOf(f) === i);
  return { context: 'system', type, perms, syntax: req.syntax, ...(filters.length ? { filter: filters.join('&') } : {}) };
}

/** True when a scope names `*` or a type this server stores (R4's, and ViewDefinition): nothing else can ever be granted. */
function namesKnownType(s: Scope): boolean {
  return s.type === '*' || isStoredType(s.type);
}

/**
 * Granted = requested ∩ pre-authorized (TOK-62). Only `system/` scopes are granted to backend
 * clients (TOK-63); unparseable or ungrantable requested scopes are dropped (TOK-64), and so are
 * scopes naming a type that R4 does not define (`system/NoSuchType.read`): a grant for it would
 * promise access to something that cannot exist. Returns the granted scopes, their
 * space-separated text in the client's syntax, and the unknown types requested (for the error
 * description when nothing at all is grantable).
 */
export function grantScopes(requested: string, registered: string): { scopes: Scope[]; text: string; unknownTypes: string[] } {
  const allowed = parseScopes(registered).filter(namesKnownType);
  const granted = new Map<string, Scope>();
  const unknownTypes = new Set<string>();
  for (const req of parseScopes(requested)) {
    if (!namesKnownType(req)) {
      unknownTypes.add(req.type);
      continue;
    }
    for (const a of allowed) {
      const g = intersect(req, a);
      if (g) granted.set(formatScope(g), g);
    }
  }
  const scopes = [...granted.values()];
  return { scopes, text: [...new Set(scopes.map((s) => formatScope(s)))].join(' '), unknownTypes: [...unknownTypes] };
}

/** What a request may see of one resource type under one permission. */
export type Grant =
  | { allowed: false }
  | { allowed: true; /** OR-ed granular filters; absent when unrestricted. */ filters?: string[] };

/** Resolves the grant for (type, permission): unrestricted if any covering scope has no filter. */
export function grantFor(scopes: Scope[], type: string, perm: Permission): Grant {
  const covering = scopes.filter((s) => (s.type === '*' || s.type === type) && s.perms.has(perm));
  if (covering.length === 0) return { allowed: false };
  if (covering.some((s) => !s.filter)) return { allowed: true };
  return { allowed: true, filters: covering.map((s) => s.filter!) };
}
