/** Opens the database for a one-shot command, runs it, and always closes (stopping an embedded server it started). */
import { loadConfig, type Config } from '../config.js';
import { openDatabase, type Database } from '../store/database.js';

export async function withDatabase<T>(fn: (db: Database, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openDatabase(config, (msg) => process.stderr.write(`${msg}\n`));
  try {
    return await fn(db, config);
  } finally {
    await db.close();
  }
}
