/**
 * The partner access policy as search filters. Besides the searched resources themselves,
 * every resource a filter looks at on the way is held to the policy: the targets of a chain
 * (`subject:Patient.name=…`) and the sources of a `_has` (`_has:Observation:patient:code=…`).
 * Without that a search could ask about a member outside the policy and learn from which
 * resources match (an oracle), although none of that member's resources is returned.
 */
import { patientCompartmentParams } from '../fhir/compartment.js';
import { searchParam, type SearchParam } from '../fhir/search-parameters.js';
import type { MemberHint, PolicyRule } from '../policy/conditions.js';
import type { Filter } from './parse.js';

export function policyFilter(rule: PolicyRule, types: string[], patient?: MemberHint): Filter {
  return patient ? { kind: 'policy', rule, types, patient } : { kind: 'policy', rule, types };
}

/**
 * The member in whose Patient compartment every row of a search of `type` is, when its filters
 * make sure of it: a Patient-only reference to one patient (`patient=X`, `subject=Patient/X`,
 * `subject:Patient=X`) on a parameter that places `type` in the compartment (or indexes the
 * same element as one that does); or a Patient
 * compartment search or `$everything` (given as `compartment`). Lets the policy check that
 * member once per statement instead of once per row (src/policy/conditions.ts).
 */
export function searchedPatient(type: string | undefined, filters: Filter[], compartment?: string): string | undefined {
  if (compartment) return compartment;
  if (!type) return undefined;
  // The parameters that place `type` in the compartment, and any that index the same element
  // (Observation `patient` is `subject` restricted to Patients).
  const placing = new Set(patientCompartmentParams(type).map((c) => searchParam(type, c)?.expression).filter((e): e is string => !!e));
  const places = (p: SearchParam) => !!p.expression && placing.has(p.expression.replace(/\.where\(resolve\(\) is Patient\)$/, ''));
  for (const f of filters) {
    if (f.kind !== 'param' || f.param.type !== 'reference' || !places(f.param) || f.values.length !== 1) continue;
    if (f.modifier && f.modifier !== 'Patient') continue;
    const v = f.values[0];
    // Relative only: an absolute URL may name another server's patient, whose rows are in nobody's compartment here.
    const typed = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(v);
    if (typed) return typed[1];
    // A bare id is a Patient only where nothing else can be meant.
    if ((f.modifier === 'Patient' || (f.param.code === 'patient' && f.param.targets.length > 0 && f.param.targets.every((t) => t === 'Patient'))) && /^[A-Za-z0-9\-.]{1,64}$/.test(v)) return v;
  }
  return undefined;
}
/** `f` with the policy applied inside its chains and `_has` clauses. */
export function guardFilter(f: Filter, rule: PolicyRule): Filter {
  switch (f.kind) {
    case 'chain':
      return { ...f, alternatives: f.alternatives.map((a) => ({ type: a.type, inner: { kind: 'any', groups: [[guardFilter(a.inner, rule), policyFilter(rule, [a.type])]] } })) };
    case 'has':
      return { ...f, inner: { kind: 'any', groups: [[guardFilter(f.inner, rule), policyFilter(rule, [f.source])]] } };
    case 'any':
      return { kind: 'any', groups: f.groups.map((g) => g.map((x) => guardFilter(x, rule))) };
    default:
      return f;
  }
}
