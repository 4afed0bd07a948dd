/**
 * Structural validation of every write (API and import alike) against the official R4 JSON
 * schema, compiled with ajv once per resource type on first use.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { createRequire } from 'node:module';
import { InvalidError, ValidationError, type Issue } from '../errors.js';
import { validateViewDefinition } from '../views/runner.js';
import { checkInvariants, warmUpInvariants } from './invariants.js';
import { fhirSchema, isResourceType } from './schema.js';

const require = createRequire(import.meta.url);
const MAX_ISSUES = 20;
const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

export type Resource = { resourceType: string; id?: string; meta?: Record<string, unknown>; [key: string]: unknown };

let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

function schemaCompiler(): Ajv {
  if (!ajv) {
    ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false, validateFormats: false });
    ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json'));
    const { id: _id, discriminator: _d, ...schema } = fhirSchema as Record<string, unknown>;
    ajv.addSchema(schema, 'fhir');
  }
  return ajv;
}

function validatorFor(type: string): ValidateFunction {
  let v = validators.get(type);
  if (!v) {
    v = schemaCompiler().compile({ $ref: `fhir#/definitions/${type}` });
    validators.set(type, v);
  }
  return v;
}

/** Schema ids in the shell schema's scope (refs to anything else point into the full R4 schema). */
const SHELL_LOCAL = new Set(['Parameters', 'Parameters_Parameter']);

/** A copy of an R4 definition for the shell schema: `ResourceList` is any object, other refs point into `fhir`. */
function shellDefinition(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(shellDefinition);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if (key === '$ref' && typeof value === 'string') {
      const name = value.slice('#/definitions/'.length);
      if (name === 'ResourceList') out.type = 'object';
      else out.$ref = SHELL_LOCAL.has(name) ? value : `fhir${value}`;
    } else {
      out[key] = shellDefinition(value);
    }
  }
  return out;
}

let shellValidator: ValidateFunction | undefined;

/**
 * R4's Parameters with every `parameter.resource` (at any depth of `part`) taken as any object.
 * R4 types a nested resource as ResourceList, a oneOf over ~150 resource types that ajv must
 * try in full for each one (oneOf needs every branch's verdict, and allErrors collects every
 * branch's errors): measured, 90% of the validation time of a `$member-match` request.
 * readParameters validates the nested resources one by one against their own type instead.
 */
function parametersShellValidator(): ValidateFunction {
  if (!shellValidator) {
    const compiler = schemaCompiler();
    const definitions = Object.fromEntries([...SHELL_LOCAL].map((name) => [name, shellDefinition(fhirSchema.definitions[name])]));
    compiler.addSchema({ definitions }, 'fhir-parameters-shell');
    shellValidator = compiler.compile({ $ref: 'fhir-parameters-shell#/definitions/Parameters' });
  }
  return shellValidator;
}

/** Compiles the shared schema graph and the invariant tables up front (a second or two), so no request pays for it. */
export function warmUpValidation(): void {
  validatorFor('Patient');
  parametersShellValidator();
  warmUpInvariants();
}

let invariantsOn = true;

/**
 * Benchmarks only (bench/import, bench/seed measure what the invariants cost): every write
 * path checks them, and nothing in the server turns them off.
 */
export function setInvariantChecking(on: boolean): void {
  invariantsOn = on;
}

export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** `/name/0/given` → `Patient.name[0].given` (the FHIRPath form OperationOutcome.issue.expression uses). */
function expressionOf(type: string, err: ErrorObject): string {
  let expr = type;
  for (const part of err.instancePath.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    expr += /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
  }
  if (err.keyword === 'additionalProperties') expr += `.${(err.params as { additionalProperty: string }).additionalProperty}`;
  if (err.keyword === 'required') expr += `.${(err.params as { missingProperty: string }).missingProperty}`;
  return expr;
}

function describe(err: ErrorObject): string {
  switch (err.keyword) {
    case 'additionalProperties':
      return `unknown element '${(err.params as { additionalProperty: string }).additionalProperty}'`;
    case 'pattern':
      return 'value does not match the FHIR datatype format';
    case 'enum':
      return `value must be one of: ${((err.params as { allowedValues: unknown[] }).allowedValues ?? []).join(', ')}`;
    default:
      return err.message ?? 'invalid';
  }
}

/**
 * Checks a parsed JSON value is a valid R4 resource: structure (the JSON schema and FHIR's JSON
 * rules), then the error-severity invariants of its type and of every datatype in it
 * (invariants.ts). Throws a 400 with one issue per problem (element path in `expression`).
 * Warning-severity invariants that fail are appended to `warnings`, when given, and never
 * refuse. The value is not modified.
 */
export function validateResource(value: unknown, expectedType?: string, warnings?: Issue[]): Resource {
  return validate(value, expectedType, warnings, false);
}

/**
 * validateResource for a Parameters resource whose `parameter.resource` values (at any depth)
 * the caller has replaced by stand-ins and validates one by one against their own types
 * (operations/parameters.ts): the same checks, except that a nested resource need only be an
 * object. The outcome for a shell is the one validateResource gives.
 */
export function validateParametersShell(value: unknown): Resource {
  return validate(value, 'Parameters', undefined, true);
}

function validate(value: unknown, expectedType: string | undefined, warnings: Issue[] | undefined, shell: boolean): Resource {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidError('The body must be a JSON object holding a FHIR resource', undefined, 'structure');
  }
  const resourceType = (value as { resourceType?: unknown }).resourceType;
  if (typeof resourceType !== 'string') {
    throw new InvalidError('The resource has no resourceType', ['resourceType'], 'required');
  }
  if (!isResourceType(resourceType) && resourceType !== 'ViewDefinition') {
    throw new InvalidError(`Unknown resource type '${resourceType}'`, ['resourceType'], 'not-supported');
  }
  if (expectedType && resourceType !== expectedType) {
    throw new InvalidError(`The resource type '${resourceType}' does not match the URL's type '${expectedType}'`, ['resourceType']);
  }
  const id = (value as { id?: unknown }).id;
  if (id !== undefined && (typeof id !== 'string' || !isValidId(id))) {
    throw new InvalidError('Resource id must be 1–64 characters of A–Z, a–z, 0–9, "-" and "."', [`${resourceType}.id`]);
  }
  if (resourceType === 'ViewDefinition') {
    // Not an R4 resource: SQL on FHIR's own rules (structure, FHIRPath subset, columns, unions).
    validateViewDefinition(value);
    return value as Resource;
  }
  const schema = shell && resourceType === 'Parameters' ? parametersShellValidator() : validatorFor(resourceType);
  if (!schema(value)) {
    const errors = (schema.errors ?? []).filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if');
    const seen = new Set<string>();
    const issues: Issue[] = [];
    for (const err of errors.length ? errors : schema.errors ?? []) {
      const expression = expressionOf(resourceType, err);
      const diagnostics = `${expression}: ${describe(err)}`;
      if (seen.has(diagnostics)) continue;
      seen.add(diagnostics);
      issues.push({ severity: 'error', code: 'structure', diagnostics, expression: [expression] });
      if (issues.length === MAX_ISSUES) break;
    }
    throw new ValidationError(issues);
  }
  const shape: Issue[] = [];
  checkJsonShape(value as Record<string, unknown>, resourceType, shape);
  if (shape.length) throw new ValidationError(shape.slice(0, MAX_ISSUES));
  if (invariantsOn) {
    const report = checkInvariants(value as Record<string, unknown>);
    if (report.errors.length) throw new ValidationError(report.errors);
    if (warnings) warnings.push(...report.warnings);
  }
  return value as Resource;
}

/**
 * FHIR JSON rules the JSON schema does not express (R4 json.html): objects and arrays are never
 * empty, and `null` appears only inside a primitive array paired with its `_element` array.
 */
function checkJsonShape(obj: Record<string, unknown>, path: string, issues: Issue[]): void {
  const bad = (expression: string, what: string) =>
    issues.push({ severity: 'error', code: 'structure', diagnostics: `${expression}: ${what}`, expression: [expression] });
  const keys = Object.keys(obj);
  if (keys.length === 0) bad(path, 'an element must have a value or children, not be an empty object');
  for (const key of keys) {
    const child = obj[key];
    const at = `${path}.${key}`;
    if (child === null) {
      bad(at, 'null is not a value; leave the element out');
    } else if (Array.isArray(child)) {
      if (child.length === 0) bad(at, 'arrays must not be empty; leave the element out');
      const paired = Array.isArray(obj[key.startsWith('_') ? key.slice(1) : `_${key}`]);
      child.forEach((item, i) => {
        if (item === null) {
          if (!paired) bad(`${at}[${i}]`, 'null is only allowed in a primitive array paired with its _element array');
        } else if (typeof item === 'object') {
          checkJsonShape(item as Record<string, unknown>, `${at}[${i}]`, issues);
        }
      });
    } else if (typeof child === 'object') {
      checkJsonShape(child as Record<string, unknown>, at, issues);
    }
  }
}
