/**
 * Which top-level elements of a resource a view can read, and stored JSON cut down to them
 * before it is parsed. Parsing is most of a view export's cost, and a view typically reads a
 * few of a resource's elements (claim lines: about half of an ExplanationOfBenefit's bytes);
 * finding where each top-level member ends is several times cheaper than building objects
 * for the members no expression reaches.
 *
 * The analysis is deliberately coarse, so that it can only keep too much: every identifier in
 * any of the view's expressions (at any depth, inside string literals too) keeps the member of
 * that name, its `_name` twin (primitive extensions) and the choice members it may stand for
 * (`value` keeps `valueQuantity`); `resourceType` and `id` are always kept (getResourceKey).
 * An expression that can reach members without naming them — `$this`, `descendants()`,
 * `children()`, `%resource`, `%rootResource`, `repeat()`, `resolve()`… — keeps everything.
 */
import type { SelectDef, ViewDef } from './definition.js';

const WHOLE = /\$this|descendants|children|%resource|%rootResource|%context|repeat\s*\(|resolve|aggregate|\$total|conformsTo|memberOf|trace/;
const IDENTIFIER = /`([^`]+)`|[A-Za-z_][A-Za-z0-9_]*/g;

function expressions(s: SelectDef): string[] {
  return [
    ...s.column.map((c) => c.path),
    ...(s.forEach !== undefined ? [s.forEach] : []),
    ...(s.forEachOrNull !== undefined ? [s.forEachOrNull] : []),
    ...(s.repeat ?? []),
    ...s.select.flatMap(expressions),
    ...s.unionAll.flatMap(expressions),
  ];
}

/** A test for the top-level member names the view may read, or undefined when it may read any. */
export function memberFilter(view: ViewDef): ((key: string) => boolean) | undefined {
  const all = [...view.where.map((w) => w.path), ...view.select.flatMap(expressions)];
  if (all.some((e) => WHOLE.test(e))) return undefined;
  const names = new Set(['resourceType', 'id']);
  for (const e of all) for (const m of e.matchAll(IDENTIFIER)) names.add(m[1] ?? m[0]);
  const decided = new Map<string, boolean>();
  return (key) => {
    let keep = decided.get(key);
    if (keep === undefined) {
      const k = key.startsWith('_') ? key.slice(1) : key;
      keep = names.has(k);
      // A choice member: `valueQuantity` is read as `value`.
      for (let i = 1; !keep && i < k.length; i++) if (k[i] >= 'A' && k[i] <= 'Z' && names.has(k.slice(0, i))) keep = true;
      decided.set(key, keep);
    }
    return keep;
  };
}

const QUOTE = 34;
const BACKSLASH = 92;

/** Index of the quote closing the string that opens at `i`. */
function stringEnd(t: string, i: number): number {
  for (let j = i + 1; ; ) {
    const k = t.indexOf('"', j);
    if (k < 0) throw new SyntaxError('unterminated string');
    let backslashes = 0;
    while (t.charCodeAt(k - 1 - backslashes) === BACKSLASH) backslashes++;
    if ((backslashes & 1) === 0) return k;
    j = k + 1;
  }
}

/** Index just past the JSON value that starts at `i`. */
function valueEnd(t: string, i: number): number {
  const c = t.charCodeAt(i);
  if (c === QUOTE) return stringEnd(t, i) + 1;
  if (c === 123 || c === 91) {
    let depth = 0;
    for (let j = i; j < t.length; j++) {
      const d = t.charCodeAt(j);
      if (d === QUOTE) j = stringEnd(t, j);
      else if (d === 123 || d === 91) depth++;
      else if ((d === 125 || d === 93) && --depth === 0) return j + 1;
    }
    throw new SyntaxError('unterminated value');
  }
  let j = i;
  while (j < t.length) {
    const d = t.charCodeAt(j);
    if (d === 44 || d === 125 || d === 93 || d <= 32) break;
    j++;
  }
  return j;
}

const skipSpace = (t: string, i: number): number => {
  while (i < t.length && t.charCodeAt(i) <= 32) i++;
  return i;
};

/**
 * The JSON object text `json` with only the top-level members `keep` accepts, values copied
 * verbatim. Throws SyntaxError on text that is not a JSON object (the caller parses it whole,
 * and JSON.parse names the problem).
 */
export function keepMembers(json: string, keep: (key: string) => boolean): string {
  let i = skipSpace(json, 0);
  if (json.charCodeAt(i) !== 123) throw new SyntaxError('not an object');
  let out = '{';
  i = skipSpace(json, i + 1);
  while (json.charCodeAt(i) !== 125) {
    if (json.charCodeAt(i) !== QUOTE) throw new SyntaxError('expected a member name');
    const start = i;
    const nameEnd = stringEnd(json, i);
    const name = json.slice(i + 1, nameEnd);
    i = skipSpace(json, nameEnd + 1);
    if (json.charCodeAt(i) !== 58) throw new SyntaxError('expected :');
    const end = valueEnd(json, skipSpace(json, i + 1));
    // A name with escapes is kept: deciding on its raw text could drop what the view reads.
    if (name.includes('\\') || keep(name)) out += (out.length > 1 ? ',' : '') + json.slice(start, end);
    i = skipSpace(json, end);
    if (json.charCodeAt(i) === 44) i = skipSpace(json, i + 1);
    else if (json.charCodeAt(i) !== 125) throw new SyntaxError('expected , or }');
  }
  return `${out}}`;
}

/** The resource as the view needs it: parsed from only the members it may read. */
export function parseForView(json: string, keep: ((key: string) => boolean) | undefined): Record<string, unknown> {
  if (keep) {
    let cut: string | undefined;
    try {
      cut = keepMembers(json, keep);
    } catch {
      // Not an object as expected: parse it whole, so JSON.parse reports what is wrong.
    }
    if (cut !== undefined) return JSON.parse(cut) as Record<string, unknown>;
  }
  return JSON.parse(json) as Record<string, unknown>;
}
