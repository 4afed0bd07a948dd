/**
 * Granular scopes (`system/Observation.rs?category=laboratory`) as search filters, so every
 * place that lists resources — search, export — restricts them with the same SQL.
 */
import { parseFilter, type Filter } from './parse.js';

/** A granular scope filter (`category=…&status=…`) as a group of search filters; unknown → matches nothing. */
export function scopeFilter(type: string, filters: string[]): Filter {
  const groups: Filter[][] = [];
  for (const text of filters) {
    const group: Filter[] = [];
    let usable = true;
    for (const [k, v] of new URLSearchParams(text)) {
      let f: Filter | undefined;
      try {
        f = parseFilter(type, k, v);
      } catch {
        f = undefined;
      }
      if (!f) usable = false;
      else group.push(f);
    }
    if (usable) groups.push(group);
  }
  return { kind: 'any', groups };
}

