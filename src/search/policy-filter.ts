/**
 * The partner access policy as search filters. Besides the searched resources themselves,
 * every resource a filter looks at on the way is held to the policy: the targets of a chain
 * (`subject:Patient.name=…`) and the sources of a `_has` (`_has:Observation:patient:code=…`).
 * Without that a search could ask about a member outside the policy and learn from which
 * resources match (an oracle), although none of that member's resources is returned.
 */
import type { PolicyRule } from '../policy/conditions.js';
import type { Filter } from './parse.js';

export function policyFilter(rule: PolicyRule, types: string[]): Filter {
  return { kind: 'policy', rule, types };
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
