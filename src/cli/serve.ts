/**
 * `payer-fhir serve`: opens the database (embedded unless DATABASE_URL), builds the HTTP app
 * and listens. SIGTERM/SIGINT drain in-flight requests, close the pool and stop the embedded
 * PostgreSQL this process started — also when the signal arrives while still starting up.
 */
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../config.js';
import { fhirBase } from '../http/urls.js';
import { securityHeaders } from '../http/security-headers.js';
import { startMetricsListener, type MetricsListener } from '../metrics/listener.js';
import { buildServer } from '../server.js';
import { openDatabase, type Database } from '../store/database.js';
import { ensureDemo } from './demo.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the FHIR API')
    .option('--port <n>', 'port to listen on (PORT)')
    .option('--host <h>', 'address to bind (HOST)')
    .option('--workers <n>', 'in-process export workers (EXPORT_WORKERS, default 2; 0: API only)')
    .option('--tls-cert <file>', 'serve HTTPS (TLS 1.2 and 1.3) with this PEM certificate chain (TLS_CERT_FILE)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert (TLS_KEY_FILE)')
    .option('--demo', 'create tenant "demo" and a demo client (key pair under DATA_DIR) if missing, and print how to use them')
    .action(async (opts: { port?: string; host?: string; demo?: boolean; workers?: string; tlsCert?: string; tlsKey?: string }) => {
      const env = {
        ...process.env,
        ...(opts.port ? { PORT: opts.port } : {}),
        ...(opts.host ? { HOST: opts.host } : {}),
        ...(opts.workers ? { EXPORT_WORKERS: opts.workers } : {}),
        ...(opts.tlsCert ? { TLS_CERT_FILE: opts.tlsCert } : {}),
        ...(opts.tlsKey ? { TLS_KEY_FILE: opts.tlsKey } : {}),
      };
      const config = loadConfig(env);
      let db: Database | undefined;
      let app: FastifyInstance | undefined;
      let metricsListener: MetricsListener | undefined;
      let signal: string | undefined;
      const stop = async () => {
        app?.log.info({ signal }, 'shutting down: draining requests');
        await metricsListener?.close();
        await app?.close();
        await db?.close();
        process.exit(0);
      };
      const onSignal = (s: string) => {
        if (signal) return;
        signal = s;
        // During start-up, stop as soon as the step in progress finishes (see `started` below).
        if (app?.server.listening) void stop();
      };
      process.on('SIGTERM', () => onSignal('SIGTERM'));
      process.on('SIGINT', () => onSignal('SIGINT'));
      const started = async () => {
        if (signal) await stop();
      };

      db = await openDatabase(config, (msg) => process.stderr.write(`${msg}\n`));
      await started();
      const banner = opts.demo ? await ensureDemo(db.pool, config, (msg) => process.stderr.write(`${msg}\n`)) : undefined;
      app = await buildServer(config, db.pool);
      await started();
      try {
        await app.listen({ port: config.port, host: config.host });
      } catch (err) {
        // The server's export workers and timers have started: closed, or they would keep a
        // process that listens nowhere alive (a port already in use, say).
        await app.close().catch(() => undefined);
        await db.close();
        throw err;
      }
      if (config.metrics.port !== undefined) {
        try {
          metricsListener = await startMetricsListener(app.metrics, { port: config.metrics.port, host: config.metrics.host }, securityHeaders(config), app.log);
        } catch (err) {
          await app.close();
          await db.close();
          throw new Error(`the metrics listener could not start on ${config.metrics.host}:${config.metrics.port}: ${(err as Error).message}`);
        }
        app.log.info({ metrics: `http://${config.metrics.host}:${metricsListener.port}/metrics` }, 'metrics listener ready');
      }
      await started();
      app.log.info({ base: fhirBase(config.publicUrl, '{tenant}'), database: db.embedded ? 'embedded' : 'external', tls: !!config.tls }, 'payer-fhir ready');
      if (banner) process.stdout.write(`${banner}\n`);
    });
}
