/**
 * The ViewDefinition of SQL on FHIR v2 as this server reads it: a structural check of the JSON
 * (every problem named with its location, e.g. `ViewDefinition.select[1].column[0].name`)
 * turned into typed nodes the compiler walks. FHIRPath itself is checked by ./fhirpath.ts.
 */
import { InvalidError } from '../errors.js';
import { isResourceType } from '../fhir/schema.js';

export interface ColumnDef {
  name: string;
  path: string;
  /** The FHIR type the column holds (`string`, `dateTime`, `decimal`…); drives Parquet typing. */
  type?: string;
  collection: boolean;
  description?: string;
  /** Location in the ViewDefinition, for messages. */
  at: string;
}

export interface SelectDef {
  at: string;
  column: ColumnDef[];
  select: SelectDef[];
  unionAll: SelectDef[];
  forEach?: string;
  forEachOrNull?: string;
  repeat?: string[];
}

export interface ConstantDef {
  name: string;
  /** The `value[x]` suffix: `String`, `Integer`, `Date`… */
  kind: string;
  value: unknown;
}

export interface ViewDef {
  resource: string;
  name?: string;
  url?: string;
  status?: string;
  constants: ConstantDef[];
  select: SelectDef[];
  where: { path: string; at: string }[];
}

/** Column names are SQL identifiers in every target (the specification's pattern). */
export const COLUMN_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const CONSTANT_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const TYPE_NAME = /^[A-Za-z][A-Za-z0-9]*$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(message: string, at: string): never {
  throw new InvalidError(`Invalid ViewDefinition: ${message}`, [at]);
}

function arrayOf(v: unknown, at: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(`'${at}' must be an array`, at);
  return v;
}

function pathString(v: unknown, at: string): string {
  if (typeof v !== 'string' || v.trim() === '') fail(`'${at}' must be a FHIRPath expression (a non-empty string)`, at);
  return v;
}

function parseColumn(v: unknown, at: string): ColumnDef {
  if (!isObject(v)) fail(`'${at}' must be an object`, at);
  if (typeof v.name !== 'string' || !COLUMN_NAME.test(v.name)) {
    fail(`column name ${JSON.stringify(v.name ?? null)} at '${at}.name' must start with a letter and hold only letters, digits and '_'`, `${at}.name`);
  }
  const path = pathString(v.path, `${at}.path`);
  if (v.type !== undefined && (typeof v.type !== 'string' || !TYPE_NAME.test(v.type))) fail(`'${at}.type' must be a FHIR type name`, `${at}.type`);
  if (v.collection !== undefined && typeof v.collection !== 'boolean') fail(`'${at}.collection' must be true or false`, `${at}.collection`);
  return { name: v.name, path, type: v.type as string | undefined, collection: v.collection === true, description: typeof v.description === 'string' ? v.description : undefined, at };
}

function parseSelect(v: unknown, at: string): SelectDef {
  if (!isObject(v)) fail(`'${at}' must be an object`, at);
  const iterations = ['forEach', 'forEachOrNull', 'repeat'].filter((k) => v[k] !== undefined);
  if (iterations.length > 1) fail(`'${at}' may have only one of forEach, forEachOrNull and repeat`, at);
  const s: SelectDef = {
    at,
    column: arrayOf(v.column, `${at}.column`).map((c, i) => parseColumn(c, `${at}.column[${i}]`)),
    select: arrayOf(v.select, `${at}.select`).map((c, i) => parseSelect(c, `${at}.select[${i}]`)),
    unionAll: arrayOf(v.unionAll, `${at}.unionAll`).map((c, i) => parseSelect(c, `${at}.unionAll[${i}]`)),
  };
  if (v.forEach !== undefined) s.forEach = pathString(v.forEach, `${at}.forEach`);
  if (v.forEachOrNull !== undefined) s.forEachOrNull = pathString(v.forEachOrNull, `${at}.forEachOrNull`);
  if (v.repeat !== undefined) {
    const paths = arrayOf(v.repeat, `${at}.repeat`);
    if (!paths.length) fail(`'${at}.repeat' must list at least one path`, `${at}.repeat`);
    s.repeat = paths.map((p, i) => pathString(p, `${at}.repeat[${i}]`));
  }
  if (!s.column.length && !s.select.length && !s.unionAll.length) fail(`'${at}' has no column, select or unionAll`, at);
  return s;
}

function parseConstant(v: unknown, at: string): ConstantDef {
  if (!isObject(v)) fail(`'${at}' must be an object`, at);
  if (typeof v.name !== 'string' || !CONSTANT_NAME.test(v.name)) fail(`'${at}.name' must be a name (letters, digits, '_')`, `${at}.name`);
  const values = Object.keys(v).filter((k) => k.startsWith('value') && k.length > 5);
  if (values.length !== 1) fail(`constant '${v.name}' must have exactly one value[x] (it has ${values.length})`, at);
  return { name: v.name, kind: values[0].slice(5), value: v[values[0]] };
}

/** The columns a select produces, in the order the specification gives them: columns, nested selects, then unionAll. */
export function columnsOf(s: SelectDef): ColumnDef[] {
  const out = [...s.column];
  for (const sub of s.select) out.push(...columnsOf(sub));
  if (s.unionAll.length) out.push(...columnsOf(s.unionAll[0]));
  return out;
}

/** unionAll branches must produce the same columns, by name and in order. */
function checkUnions(s: SelectDef): void {
  for (const sub of [...s.select, ...s.unionAll]) checkUnions(sub);
  if (s.unionAll.length < 2) return;
  const first = columnsOf(s.unionAll[0]).map((c) => c.name);
  s.unionAll.forEach((branch, i) => {
    const names = columnsOf(branch).map((c) => c.name);
    if (names.join(',') !== first.join(',')) {
      fail(`the branches of '${s.at}.unionAll' must have the same columns in the same order: branch 0 has (${first.join(', ')}), branch ${i} has (${names.join(', ')})`, `${s.at}.unionAll[${i}]`);
    }
  });
}

/** Parses and structurally validates a ViewDefinition; throws InvalidError naming the first problem. */
export function parseViewDefinition(json: unknown): ViewDef {
  const at = 'ViewDefinition';
  if (!isObject(json)) fail('the view must be a JSON object', at);
  if (json.resourceType !== undefined && json.resourceType !== 'ViewDefinition') fail(`resourceType must be 'ViewDefinition', not ${JSON.stringify(json.resourceType)}`, `${at}.resourceType`);
  if (typeof json.resource !== 'string' || json.resource === '') fail("'resource' (the FHIR resource type the view reads) is required", `${at}.resource`);
  if (!isResourceType(json.resource)) fail(`'${json.resource}' is not a FHIR R4 resource type`, `${at}.resource`);
  const select = arrayOf(json.select, `${at}.select`).map((s, i) => parseSelect(s, `${at}.select[${i}]`));
  if (!select.length) fail("'select' must have at least one entry", `${at}.select`);
  const constants = arrayOf(json.constant, `${at}.constant`).map((c, i) => parseConstant(c, `${at}.constant[${i}]`));
  const seenConstants = new Set<string>();
  for (const c of constants) {
    if (seenConstants.has(c.name)) fail(`constant '${c.name}' is defined twice`, `${at}.constant`);
    seenConstants.add(c.name);
  }
  const where = arrayOf(json.where, `${at}.where`).map((w, i) => {
    if (!isObject(w)) fail(`'${at}.where[${i}]' must be an object`, `${at}.where[${i}]`);
    return { path: pathString(w.path, `${at}.where[${i}].path`), at: `${at}.where[${i}].path` };
  });
  const view: ViewDef = {
    resource: json.resource,
    name: typeof json.name === 'string' ? json.name : undefined,
    url: typeof json.url === 'string' ? json.url : undefined,
    status: typeof json.status === 'string' ? json.status : undefined,
    constants,
    select,
    where,
  };
  for (const s of select) checkUnions(s);
  const seen = new Set<string>();
  for (const c of select.flatMap(columnsOf)) {
    if (seen.has(c.name)) fail(`column name '${c.name}' is used twice (at '${c.at}')`, `${c.at}.name`);
    seen.add(c.name);
  }
  return view;
}
