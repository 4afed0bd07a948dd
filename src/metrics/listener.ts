/**
 * The METRICS_PORT listener: a tiny HTTP server of its own that serves only `GET /metrics`,
 * unauthenticated — bind it (METRICS_HOST, loopback by default) where only the scraper
 * reaches it. Started by `serve` and `worker`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServerMetrics } from './metrics.js';

export interface MetricsListener {
  port: number;
  close(): Promise<void>;
}

export async function startMetricsListener(
  metrics: ServerMetrics,
  at: { port: number; host: string },
  headers: Record<string, string>,
  log: { warn(obj: object, msg: string): void },
): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { ...headers, 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return send(404, 'text/plain; charset=utf-8', 'Not found: this port serves /metrics only\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'Use GET\n');
    metrics.scrape().then(
      ({ contentType, body }) => send(200, contentType, body),
      (err) => {
        log.warn({ err }, 'metrics scrape failed');
        send(500, 'text/plain; charset=utf-8', 'Metrics could not be collected\n');
      },
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
