/**
 * Serves the operator console built by `npm run build` (console/ → dist/console) at
 * `/console/`: the page with a fresh CSP nonce per answer (the UI library's run-time style
 * elements carry it; no 'unsafe-inline' anywhere), and the hashed assets, cached for good. The
 * files are read once at start; without a build the console answers 503 saying so.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const BUILD_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.woff2': 'font/woff2', '.json': 'application/json',
};

export function consoleCsp(nonce: string): string {
  return [
    "default-src 'none'", "script-src 'self'", `style-src 'self' 'nonce-${nonce}'`, "img-src 'self' data:", "font-src 'self'", "connect-src 'self'",
    "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'", "object-src 'none'",
  ].join('; ');
}

function readBuild(dir: string): { index: string; assets: Map<string, Buffer> } | undefined {
  try {
    const index = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
    const assets = new Map<string, Buffer>();
    for (const f of fs.readdirSync(path.join(dir, 'assets'))) assets.set(f, fs.readFileSync(path.join(dir, 'assets', f)));
    return { index, assets };
  } catch {
    return undefined;
  }
}

const pageCsp = new WeakMap<object, string>();

export async function registerConsole(app: FastifyInstance, dir = BUILD_DIR): Promise<void> {
  const build = readBuild(dir);
  await app.register(
    async (ui) => {
      ui.addHook('onRequest', (req, _reply, done) => {
        req.audit = undefined; // static files; what the person does is recorded by the admin API
        done();
      });
      const page = async (_req: unknown, reply: import('fastify').FastifyReply) => {
        if (!build) return reply.code(503).type('text/plain; charset=utf-8').send('The console is not built: run `npm run build`.');
        const nonce = crypto.randomBytes(16).toString('base64');
        pageCsp.set(reply, consoleCsp(nonce));
        reply.header('Cache-Control', 'no-store');
        return reply.type('text/html; charset=utf-8').send(build.index.replace('__CSP_NONCE__', nonce));
      };
      // Runs after the server-wide security headers (registered earlier), so the page's CSP is the one sent.
      ui.addHook('onSend', (_req, reply, payload, done) => {
        const csp = pageCsp.get(reply);
        if (csp) reply.header('Content-Security-Policy', csp);
        done(null, payload);
      });
      ui.get('/', page);
      ui.get('/index.html', page);
      ui.get('/assets/:file', async (req, reply) => {
        const file = (req.params as { file: string }).file;
        const body = build?.assets.get(file);
        if (!body) return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
        return reply
          .type(TYPES[path.extname(file)] ?? 'application/octet-stream')
          .header('Cache-Control', 'public, max-age=31536000, immutable')
          .send(body);
      });
    },
    { prefix: '/console' },
  );
}
