/**
 * Logical ids the server assigns (create, and import entries that are creates): UUIDs of
 * version 7 (RFC 9562), a millisecond timestamp followed by 74 random bits. Every index keyed by
 * (tenant, type, id) receives a type's new ids at one moving point instead of at random places,
 * so a create dirties the few index pages already in memory rather than a random page of each
 * large index, which on a busy database means reading and writing back a page per index per
 * create. The id reveals no more than `meta.lastUpdated` does.
 */
import crypto from 'node:crypto';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A new UUIDv7, lower-case and hyphenated (a valid FHIR id). */
export function newResourceId(now = Date.now()): string {
  const b = crypto.randomBytes(16);
  // 48-bit big-endian milliseconds since the epoch.
  let ms = now;
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70; // version 7
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
  let s = '';
  for (let i = 0; i < 16; i++) s += (i === 4 || i === 6 || i === 8 || i === 10 ? '-' : '') + HEX[b[i]];
  return s;
}
