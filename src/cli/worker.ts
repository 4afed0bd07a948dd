/**
 * `payer-fhir worker`: export workers (and the `$bulk-member-match` job loop) without the API. Any number of them (and of `serve`
 * processes) share the jobs through PostgreSQL; SIGTERM/SIGINT hand unfinished units back
 * so another worker takes them at once.
 */
import type { Command } from 'commander';
import { pino } from 'pino';
import { openStorage } from '../bulk/storage.js';
import { ExportWorkers } from '../bulk/worker.js';
import { loadConfig } from '../config.js';
import { securityHeaders } from '../http/security-headers.js';
import { fhirBase } from '../http/urls.js';
import { startMetricsListener, type MetricsListener } from '../metrics/listener.js';
import { ServerMetrics } from '../metrics/metrics.js';
import { MatchWorkers } from '../operations/bulk-match-runner.js';
import { openDatabase } from '../store/database.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run bulk export workers only (they share jobs with every serve and worker process)')
    .option('--concurrency <n>', 'units run at once (default EXPORT_WORKERS, at least 1)')
    .action(async (opts: { concurrency?: string }) => {
      const config = loadConfig();
      const concurrency = opts.concurrency === undefined ? Math.max(1, config.export.workers) : Number(opts.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('--concurrency must be a positive integer');
      const log = pino({ level: config.logLevel });
      const db = await openDatabase(config, (msg) => process.stderr.write(`${msg}\n`));
      const metrics = new ServerMetrics(db.pool);
      const workers = new ExportWorkers({
        pool: db.pool,
        storage: await openStorage(config.export.storage),
        config: config.export,
        base: (t) => fhirBase(config.publicUrl, t),
        concurrency,
        log,
        onUnitCompleted: (out) => metrics.unitCompleted(out),
      });
      // `$bulk-member-match` jobs share the same processes.
      const matchWorkers = new MatchWorkers({ pool: db.pool, config, log });
      let metricsListener: MetricsListener | undefined;
      if (config.metrics.port !== undefined) {
        try {
          metricsListener = await startMetricsListener(metrics, { port: config.metrics.port, host: config.metrics.host }, securityHeaders(config), log);
        } catch (err) {
          await db.close();
          throw new Error(`the metrics listener could not start on ${config.metrics.host}:${config.metrics.port}: ${(err as Error).message}`);
        }
        log.info({ metrics: `http://${config.metrics.host}:${metricsListener.port}/metrics` }, 'metrics listener ready');
      }
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'worker stopping: handing back unfinished units');
        await workers.stop();
        await matchWorkers.stop();
        await metricsListener?.close();
        await db.close();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      workers.start();
      matchWorkers.start();
      log.info({ owner: workers.owner, concurrency, storage: config.export.storage.split('?')[0] }, 'payer-fhir export worker ready');
    });
}
