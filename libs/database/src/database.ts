import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { drizzle, migrate } from './drizzle.js';
import pg from 'pg';
import { SpecimenError } from '#contracts';
import { backfillPseudonyms } from './pseudonyms.js';
import * as schema from './schema.js';

export type Db = NodePgDatabase<typeof schema>;
/** A transaction handle, as passed to {@link Database.transaction} callbacks. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type Executor = Db | Tx;

/** Folder of the SQL migrations written by drizzle-kit (shipped beside the compiled code's source tree). */
export function migrationsFolder(): string {
  // dist/libs/database/src -> libs/database/migrations, and libs/database/src -> libs/database/migrations
  const here = dirname(fileURLToPath(import.meta.url));
  const up = here.includes(`${join('dist', 'libs')}`)
    ? join(here, '..', '..', '..', '..')
    : join(here, '..', '..', '..');
  return join(up, 'libs', 'database', 'migrations');
}

// Any constant works; every replica uses the same one so only one migrates at a time.
const MIGRATION_LOCK_KEY = 0x5_9ec1_4e;

/** Creates the database named in the URL when it does not exist (connecting to `postgres` to do so). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (name === '') throw new Error('DATABASE_URL names no database');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.href });
  try {
    await client.connect();
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) {
      try {
        await client.query(`create database "${name.replace(/"/g, '""')}"`);
      } catch (e) {
        // Another replica created it between our check and our create (PostgreSQL reports either code).
        const code = (e as { code?: string }).code;
        if (code !== '42P04' && code !== '23505') throw e;
      }
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Runs pending migrations under a session advisory lock, so replicas starting together migrate once;
 * with the pseudonym key, also converts pre-0009 rows to pseudonyms under the same lock.
 */
export async function runMigrations(url: string, options: { pseudonymKey?: string } = {}): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await migrate(drizzle(client), { migrationsFolder: migrationsFolder() });
      if (options.pseudonymKey !== undefined) await backfillPseudonyms(client, options.pseudonymKey);
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

/** The connection pool and the typed query builder; repositories are built on it. */
export class Database {
  readonly db: Db;
  private constructor(private readonly pool: pg.Pool) {
    this.db = drizzle(pool, { schema });
  }

  /** Creates the database if missing, migrates it, and opens a pool. */
  static async connect(options: {
    url: string;
    poolMax: number;
    migrate?: boolean;
    pseudonymKey?: string;
    /** Longest wait for a new connection, and for a statement's answer (0 or absent: no bound). */
    connectTimeoutMs?: number;
    queryTimeoutMs?: number;
  }): Promise<Database> {
    if (options.migrate !== false) {
      await ensureDatabase(options.url);
      await runMigrations(
        options.url,
        options.pseudonymKey === undefined ? {} : { pseudonymKey: options.pseudonymKey },
      );
    }
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolMax,
      ...(options.connectTimeoutMs ? { connectionTimeoutMillis: options.connectTimeoutMs } : {}),
      ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
    });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    return new Database(pool);
  }

  /**
   * A transaction on a client of its own (see {@link onClient}): drizzle's transaction on the pool gives a
   * client back after a failed rollback, so after a client-side timeout (the statement still running on the
   * server, the rollback queued behind it) the pool's later plain statements ran inside the old
   * transaction and were never committed.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.onClient((client) => drizzle(client, { schema }).transaction(fn));
  }

  /**
   * A transaction on a plain pg client, for the few hot paths whose statements are fixed text with a
   * constant number of parameters: sent as named prepared statements (parsed once per connection), they
   * skip the query builder's per-value work and PostgreSQL's parse and plan of a fresh statement.
   */
  rawTransaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.onClient(async (client, broken) => {
      try {
        await client.query('begin');
        const result = await fn(client);
        await client.query('commit');
        return result;
      } catch (e) {
        await client.query('rollback').catch(broken);
        throw e;
      }
    });
  }

  /**
   * `work` on a pooled client of its own, its errors as {@link toDatabaseError} maps them. The client is
   * destroyed, not given back, when the work failed for want of the database (a dropped connection, a
   * statement past DATABASE_QUERY_TIMEOUT_MS) or when the work says so (`broken`: a rollback that failed).
   */
  private async onClient<T>(work: (client: pg.PoolClient, broken: () => void) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw toDatabaseError(e);
    }
    let broken = false;
    try {
      return await work(client, () => {
        broken = true;
      });
    } catch (e) {
      const mapped = toDatabaseError(e);
      if (mapped instanceof SpecimenError && mapped.code === 'DATABASE_UNAVAILABLE') broken = true;
      throw mapped;
    } finally {
      client.release(broken);
    }
  }

  /**
   * One statement on the pool, outside any transaction (see {@link rawTransaction}); with `rowMode: 'array'`,
   * each row is the array of its columns in the order selected.
   */
  rawQuery<R extends pg.QueryResultRow>(query: pg.QueryConfig): Promise<pg.QueryResult<R>>;
  rawQuery<R extends unknown[]>(query: pg.QueryArrayConfig): Promise<pg.QueryArrayResult<R>>;
  async rawQuery(query: pg.QueryConfig): Promise<pg.QueryResult | pg.QueryArrayResult> {
    try {
      return await this.pool.query(query);
    } catch (e) {
      throw toDatabaseError(e);
    }
  }

  async ping(): Promise<void> {
    try {
      await this.pool.query('select 1');
    } catch (e) {
      throw toDatabaseError(e);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * Network failures, and PostgreSQL's refusals that say the server cannot take the work now: admin or crash
 * shutdown (57P01, 57P02), starting up (57P03), too many connections (53300), and the connection classes
 * (08001 unable to connect, 08004 rejected, 08006 failure).
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08001',
  '08004',
  '08006',
]);

/**
 * What node-postgres says, without a code, when the connection fails: dropped mid-statement, no connection
 * within connectionTimeoutMillis, no answer within query_timeout, or a client already broken.
 */
const CONNECTION_MESSAGES =
  /^(?:Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error)/;

/**
 * Connection-level failures become DATABASE_UNAVAILABLE (503); anything else is rethrown as it was. The
 * failure is looked for along the cause chain (the query builder wraps the driver's error in one that
 * carries the statement and its parameters) and becomes the new error's cause alone: the log of an outage
 * shows why, never a query's parameters (a token's hash among them).
 */
export function toDatabaseError(e: unknown): unknown {
  if (e instanceof SpecimenError) return e;
  let failure: unknown = e;
  for (let depth = 0; depth < 5 && failure instanceof Error; depth++) {
    const code = (failure as { code?: unknown }).code;
    if (
      (typeof code === 'string' && CONNECTION_CODES.has(code)) ||
      CONNECTION_MESSAGES.test(failure.message)
    ) {
      return new SpecimenError('DATABASE_UNAVAILABLE', 'the database is unavailable', undefined, {
        cause: new Error(failure.message),
      });
    }
    failure = failure.cause;
  }
  return e;
}
