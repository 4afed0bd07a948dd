/**
 * The developer portal's Postman collection signs its client assertion in a pre-request script
 * with jsrsasign from Postman's package library. This runs that very script, as served, with
 * the same jsrsasign version and a private JWK written by `payer-fhir keys generate`, and sends
 * what it signed to the real token endpoint: the assertion must earn a token, for both
 * algorithms the CLI writes. Only Postman's `pm` object is stood in for (environment, the
 * package require and `{{$guid}}`); the signing, the key and the server are real.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import vm from 'node:vm';
import { addClient } from '../src/auth/clients.js';
import { requestToken } from './helpers/auth.js';
import { startServer, type TestServer } from './helpers/server.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const run = promisify(execFile);
const require = createRequire(import.meta.url);

/** Runs a Postman script with `env` as its environment; returns the environment after it. */
function runScript(exec: string[], env: Map<string, string>): void {
  const pm = {
    environment: { get: (k: string) => env.get(k), set: (k: string, v: string) => void env.set(k, v) },
    variables: { replaceIn: (s: string) => s.replace('{{$guid}}', crypto.randomUUID()) },
    require: (spec: string) => {
      // The package library names a pinned version; the one installed here must be it.
      const m = /^npm:(.+)@(\d+\.\d+\.\d+)$/.exec(spec);
      assert.ok(m, spec);
      assert.equal(require(`${m[1]}/package.json`).version, m[2], `installed ${m[1]} is the version the script pins`);
      return require(m[1]);
    },
  };
  vm.runInNewContext(exec.join('\n'), { pm, JSON, Math, Date });
}

describe('Postman collection: the pre-request script signs an assertion the server accepts', () => {
  let server: TestServer;
  let tenant: string;
  let dir: string;
  before(async () => {
    server = await startServer();
    ({ tenant } = await server.newTenant('postman'));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-postman-'));
  });
  after(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await server.close();
  });

  for (const alg of ['ES384', 'RS384']) {
    it(`${alg}: keys generate → the collection's script → a token`, async () => {
      const out = path.join(dir, alg);
      await run(process.execPath, [path.join(root, 'bin', 'payer-fhir.js'), 'keys', 'generate', '--alg', alg, '--out', out], { env: process.env });
      const jwks = JSON.parse(fs.readFileSync(path.join(out, 'jwks.json'), 'utf8'));
      const { client_id } = await addClient(server.db.pool, { tenant, name: `postman ${alg}`, jwks, scope: 'system/Patient.rs' });

      const collection = await (await fetch(`${server.origin}/developers/${tenant}/postman-collection.json`)).json();
      const environment = await (await fetch(`${server.origin}/developers/${tenant}/postman-environment.json`)).json();
      const tokenRequest = collection.item[0].item[0];
      const script = tokenRequest.event.find((e: any) => e.listen === 'prerequest').script.exec as string[];
      const env = new Map<string, string>(environment.values.map((v: any) => [v.key, v.value]));
      env.set('client_id', client_id);
      env.set('private_jwk', fs.readFileSync(path.join(out, 'private-key.json'), 'utf8'));
      runScript(script, env);
      const assertion = env.get('client_assertion');
      assert.match(assertion ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/);
      const header = JSON.parse(Buffer.from(assertion!.split('.')[0], 'base64url').toString());
      assert.equal(header.alg, alg);

      // The form exactly as the collection sends it, its variables filled from the environment.
      const form = Object.fromEntries(
        tokenRequest.request.body.urlencoded.map((p: any) => [p.key, String(p.value).replace(/\{\{(\w+)\}\}/g, (_: string, k: string) => env.get(k) ?? '')]),
      );
      const url = String(tokenRequest.request.url.raw).replace(/\{\{(\w+)\}\}/g, (_: string, k: string) => env.get(k) ?? '');
      const r = await requestToken(url, form);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.token_type, 'bearer');
      assert.equal(r.json.scope, 'system/Patient.rs');
      // The same assertion again is a replay (its jti is spent; TOK-47).
      const again = await requestToken(url, form);
      assert.equal(again.status, 400);
      assert.equal(again.json.error, 'invalid_client');
    });
  }
});
