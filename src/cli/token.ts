/** `payer-fhir token`: get an access token from any SMART Backend Services token endpoint. */
import type { Command } from 'commander';
import fs from 'node:fs/promises';
import { fetchAccessToken } from '../auth/client-credentials.js';

export function registerToken(program: Command): void {
  program
    .command('token')
    .description('sign a client assertion and print an access token (private_key_jwt)')
    .requiredOption('--token-url <url>', 'the token endpoint')
    .requiredOption('--client-id <id>', 'your client id')
    .requiredOption('--key <file>', 'your private JWK (as written by `keys generate`)')
    .option('--scope <scopes>', 'requested scopes', 'system/*.rs')
    .option('--json', 'print the whole token response as JSON')
    .action(async (o: { tokenUrl: string; clientId: string; key: string; scope: string; json?: boolean }) => {
      const jwk = JSON.parse(await fs.readFile(o.key, 'utf8'));
      const res = await fetchAccessToken(o.tokenUrl, o.clientId, jwk, o.scope);
      process.stdout.write(o.json ? `${JSON.stringify(res)}\n` : `${res.access_token}\n`);
    });
}
