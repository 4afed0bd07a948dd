/**
 * `payer-fhir keys generate` (a key pair for a new client) and `keys rotate-server`
 * (a new access-token signing key; tokens signed by the old one stay valid until they expire).
 */
import type { Command } from 'commander';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { rotateSigningKey } from '../auth/signing-keys.js';
import { withDatabase } from './database.js';

/** Writes `private-key.json` (a private JWK, mode 600) and `jwks.json` (its public JWKS) into `dir`. */
export async function generateClientKeys(alg: string, dir: string): Promise<{ kid: string; privateKeyFile: string; jwksFile: string }> {
  if (alg !== 'RS384' && alg !== 'ES384') throw new Error('--alg must be RS384 or ES384');
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS384' ? { modulusLength: 2048 } : {}) });
  const kid = crypto.randomUUID();
  await fs.mkdir(dir, { recursive: true });
  const privateKeyFile = path.join(dir, 'private-key.json');
  const jwksFile = path.join(dir, 'jwks.json');
  await fs.writeFile(privateKeyFile, JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg, use: 'sig' }, null, 2) + '\n', { mode: 0o600 });
  await fs.writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg, use: 'sig', key_ops: ['verify'] }] }, null, 2) + '\n');
  return { kid, privateKeyFile, jwksFile };
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('client key pairs and the server\'s token-signing keys');
  keys
    .command('generate')
    .description('write a private JWK and its public JWKS for a new client')
    .requiredOption('--alg <alg>', 'RS384 or ES384')
    .requiredOption('--out <dir>', 'folder to write private-key.json and jwks.json into')
    .action(async (o: { alg: string; out: string }) => {
      const r = await generateClientKeys(o.alg, o.out);
      process.stdout.write(`${JSON.stringify({ kid: r.kid, private_key: r.privateKeyFile, jwks: r.jwksFile })}\n`);
    });
  keys
    .command('rotate-server')
    .description('create a new access-token signing key; older tokens stay valid until they expire')
    .action(async () => {
      await withDatabase(async (db) => process.stdout.write(`${JSON.stringify({ kid: await rotateSigningKey(db.pool) })}\n`));
    });
}
