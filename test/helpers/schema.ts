/** Checks returned resources against the official R4 JSON schema (REST tests, export tests). */
import assert from 'node:assert/strict';
import { validateResource } from '../../src/fhir/validation.js';

export function assertValidR4(resource: unknown): void {
  try {
    validateResource(resource);
  } catch (err) {
    assert.fail(`not valid R4: ${(err as Error).message}`);
  }
}
