/**
 * `payer-fhir serve`: opens the database (embedded unless DATABASE_URL), builds the HTTP app
 * and listens. SIGTERM/SIGINT drain in-flight requests, close the pool and stop the embedded
 * PostgreSQL this process started.
 */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { fhirBase } from '../http/urls.js';
import { buildServer } from '../server.js';
import { openDatabase } from '../store/database.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the FHIR API')
    .option('--port <n>', 'port to listen on (PORT)')
    .option('--host <h>', 'address to bind (HOST)')
    .action(async (opts: { port?: string; host?: string }) => {
      const env = { ...process.env, ...(opts.port ? { PORT: opts.port } : {}), ...(opts.host ? { HOST: opts.host } : {}) };
      const config = loadConfig(env);
      const db = await openDatabase(config, (msg) => process.stderr.write(`${msg}\n`));
      const app = await buildServer(config, db.pool);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        app.log.info({ signal }, 'shutting down: draining requests');
        await app.close();
        await db.close();
        app.log.info('stopped');
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      try {
        await app.listen({ port: config.port, host: config.host });
      } catch (err) {
        await db.close();
        throw err;
      }
      app.log.info({ base: fhirBase(config.publicUrl, '{tenant}'), database: db.embedded ? 'embedded' : 'external' }, 'payer-fhir ready');
    });
}
