/**
 * Opaque, tamper-proof paging cursors: the keyset position is JSON, base64url-encoded and
 * signed with an HMAC whose key lives in the database (shared by every server process).
 * An altered or forged cursor fails verification and is answered with 400.
 */
import crypto from 'node:crypto';
import { InvalidError } from '../errors.js';

export class CursorCodec {
  constructor(private readonly key: Buffer) {}

  encode(value: unknown): string {
    const body = Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  decode<T>(token: string, parameter = '_page'): T {
    const [body, mac] = token.split('.');
    if (!body || !mac) throw new InvalidError(`Invalid ${parameter} token`, [parameter]);
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
      throw new InvalidError(`Invalid or altered ${parameter} token`, [parameter]);
    }
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as T;
    } catch {
      throw new InvalidError(`Invalid ${parameter} token`, [parameter]);
    }
  }

  private sign(body: string): string {
    return crypto.createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
