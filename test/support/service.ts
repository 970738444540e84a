import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { projectRoot } from '#config';
import { documentedRoute, responseMismatch } from './openapi.js';
import { pollUntil } from './poll.js';
import { API_NODE_FLAGS } from '../../apps/node-flags.js';

const ADMIN_DB = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * The services' processes still running. They are told to stop when this process is (SIGINT, SIGTERM) or
 * exits, so an interrupted test or benchmark leaves no API or scanner running on as an orphan (one did, for
 * an hour, holding its database).
 */
const running = new Set<ChildProcess>();
let reaping = false;

function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (reaping) return;
  reaping = true;
  process.once('exit', () => {
    for (const c of running) c.kill('SIGTERM');
  });
  // A signal ends the process through exit(), whose listener above stops the services.
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => process.exit(code));
  }
}

/** SIGTERM (graceful shutdown), then SIGKILL after 10 s. */
async function stopChild(child: ChildProcess | null): Promise<void> {
  if (child === null || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/** Runs SQL against a test database (for assertions the API does not expose). */
export async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Drops a test's database, closing whatever connections are still open on it. */
export async function dropDatabase(url: string): Promise<void> {
  await query(ADMIN_DB, `drop database if exists "${new URL(url).pathname.slice(1)}" with (force)`);
}

/**
 * Deletes every key under `prefix:` (queues, jobs, rate-limit counters), so a run leaves nothing in a shared
 * Redis: a scan-e2e round left ~17,000 keys and ~30 MB. Best effort: a Redis that does not answer (a test
 * may have stopped it) only earns a warning.
 */
export async function dropRedisPrefix(url: string, prefix: string): Promise<void> {
  // Loaded here, not at the top: ioredis leaves String.prototype slow in the process that loads it (see
  // libs/queue/src/string-prototype.ts), and the benchmarks run their baselines in this process.
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2_000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } catch (e) {
    process.stderr.write(`could not remove the Redis keys under ${prefix}: ${String(e)}\n`);
  } finally {
    redis.disconnect();
  }
}

export interface ServiceOptions {
  /** Extra or overriding environment for both processes. */
  env?: Record<string, string>;
  /** Environment for the API only (e.g. a Redis URL that does not answer). */
  apiEnv?: Record<string, string>;
  /** Node or V8 flags for the API's command line, after its own (e.g. --trace-gc, which NODE_OPTIONS refuses). */
  apiFlags?: string[];
  /** STORAGE_URL; a fresh temporary folder by default. */
  storageUrl?: string;
  scanner?: boolean;
  /** Wait for /health/ready (default) or only /health/live. */
  waitFor?: 'ready' | 'live';
  /**
   * Check every 2xx JSON answer `request` gets against the response schema the served OpenAPI document
   * gives its route: one that differs rejects the request with what differs.
   */
  checkAnswers?: boolean;
}

/**
 * Specimen as its users run it: the compiled API and scanner as child processes, on a database, a Redis
 * key prefix and a storage folder of their own, so test files can run side by side.
 */
export class TestService {
  readonly adminToken = `admin-${randomBytes(16).toString('hex')}`;
  readonly queuePrefix = `t${randomBytes(6).toString('hex')}`;
  readonly databaseUrl = `postgres://postgres@127.0.0.1:5432/specimen_test_${randomBytes(6).toString('hex')}`;
  baseUrl = '';
  /** The scanner's health and metrics server (SCANNER_HTTP_PORT), a free port of its own. */
  scannerUrl = '';
  private scannerPort = 0;
  storageDir: string | null = null;
  storageUrl = '';
  api: ChildProcess | null = null;
  /** API replicas started with {@link startApiReplica}. */
  private readonly replicas: ChildProcess[] = [];
  scanner: ChildProcess | null = null;
  private readonly logs: string[] = [];

  constructor(private readonly options: ServiceOptions = {}) {}

  get env(): Record<string, string> {
    return {
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      DATABASE_URL: this.databaseUrl,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: this.queuePrefix,
      STORAGE_URL: this.storageUrl,
      SPECIMEN_ADMIN_TOKEN: this.adminToken,
      SCANNER_HTTP_PORT: String(this.scannerPort),
      ...this.options.env,
    };
  }

  async start(): Promise<this> {
    if (this.options.storageUrl !== undefined) {
      this.storageUrl = this.options.storageUrl;
    } else {
      this.storageDir = await mkdtemp(join(tmpdir(), 'specimen-objects-'));
      this.storageUrl = pathToFileURL(this.storageDir).href;
    }
    const port = await freePort();
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.scannerPort = await freePort();
    this.scannerUrl = `http://127.0.0.1:${this.scannerPort}`;
    // The scanner migrates too; starting both at once exercises the migration lock.
    this.api = this.spawn('api', { ...this.env, ...this.options.apiEnv, PORT: String(port) });
    if (this.options.scanner !== false) this.startScanner();
    const path = this.options.waitFor === 'live' ? '/health/live' : '/health/ready';
    const ready = await pollUntil(
      async () => {
        if (this.api?.exitCode !== null) return 'exited';
        const res = await fetch(`${this.baseUrl}${path}`).catch(() => null);
        return res?.status === 200 ? 'ready' : undefined;
      },
      { timeoutMs: 30_000, what: `the API at ${this.baseUrl}${path}` },
    ).catch((e: unknown) => String(e));
    if (ready !== 'ready') throw new Error(`service did not start (${ready}):\n${this.output()}`);
    return this;
  }

  /**
   * Starts another API process on the same database, Redis prefix and storage (a second replica) and
   * resolves with its base URL once it is ready.
   */
  async startApiReplica(env: Record<string, string> = {}): Promise<string> {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const child = this.spawn('api', { ...this.env, ...this.options.apiEnv, ...env, PORT: String(port) });
    this.replicas.push(child);
    const ready = await pollUntil(
      async () => {
        if (child.exitCode !== null) return 'exited';
        const res = await fetch(`${baseUrl}/health/ready`).catch(() => null);
        return res?.status === 200 ? 'ready' : undefined;
      },
      { timeoutMs: 30_000, what: `the API replica at ${baseUrl}` },
    ).catch((e: unknown) => String(e));
    if (ready !== 'ready') throw new Error(`API replica did not start (${ready}):\n${this.output()}`);
    return baseUrl;
  }

  /** Starts a scanner process (again, after {@link stopScanner}, or late when `scanner: false`). */
  startScanner(): void {
    const another =
      this.scanner !== null && this.scanner.exitCode === null && this.scanner.signalCode === null;
    // A second replica cannot share the first one's health port: it takes any free one.
    this.scanner = this.spawn('scanner', another ? { ...this.env, SCANNER_HTTP_PORT: '0' } : this.env);
  }

  async stopScanner(): Promise<void> {
    await stopChild(this.scanner);
    this.scanner = null;
  }

  private spawn(role: 'api' | 'scanner', env: Record<string, string>): ChildProcess {
    const entry = join(projectRoot(), 'dist', 'apps', role, 'src', 'main.js');
    // As `npm run start:api` runs it (see apps/node-flags.ts for why).
    const flags = role === 'api' ? [...API_NODE_FLAGS, ...(this.options.apiFlags ?? [])] : [];
    const child = spawn(process.execPath, [...flags, entry], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    const keep = (chunk: Buffer) => {
      if (process.env.TEST_SERVICE_OUTPUT === '1') process.stderr.write(`[${role}] ${chunk.toString()}`);
      this.logs.push(`[${role}] ${chunk.toString()}`);
      if (this.logs.length > 400) this.logs.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    return child;
  }

  /** The last lines the processes printed (for failure messages). */
  output(): string {
    return this.logs.join('');
  }

  async stop(): Promise<void> {
    await Promise.all([stopChild(this.api), stopChild(this.scanner), ...this.replicas.map(stopChild)]);
    await dropDatabase(this.databaseUrl);
    await dropRedisPrefix(this.env.REDIS_URL ?? 'redis://127.0.0.1:6379', this.queuePrefix);
    if (this.storageDir !== null) await rm(this.storageDir, { recursive: true, force: true });
  }

  /** fetch against the API (or `baseUrl`, e.g. a replica's) with a bearer token (the admin's by default). */
  async request(
    path: string,
    init: RequestInit & { token?: string | null; baseUrl?: string } = {},
  ): Promise<Response> {
    const { token = this.adminToken, headers, baseUrl = this.baseUrl, ...rest } = init;
    const h = new Headers(headers);
    if (token !== null) h.set('authorization', `Bearer ${token}`);
    const res = await fetch(`${baseUrl}${path}`, { ...rest, headers: h });
    if (this.options.checkAnswers === true && baseUrl === this.baseUrl) {
      await this.checkAnswer(rest.method ?? 'GET', path, res);
    }
    return res;
  }

  private document: Promise<Record<string, unknown>> | null = null;

  /** Throws when `res`, a 2xx JSON answer, is not what the OpenAPI document says of its route. */
  private async checkAnswer(method: string, path: string, res: Response): Promise<void> {
    if (!res.ok || !/^application\/json\b/.test(res.headers.get('content-type') ?? '')) return;
    this.document ??= fetch(`${this.baseUrl}/docs/openapi.json`).then(
      async (r) => (await r.json()) as Record<string, unknown>,
    );
    const doc = await this.document;
    const pathname = new URL(path, this.baseUrl).pathname;
    const route = documentedRoute(doc, method, pathname);
    const mismatch =
      route === null
        ? 'no documented route'
        : responseMismatch(doc, route, res.status, await res.clone().json());
    if (mismatch !== null) throw new Error(`${method.toUpperCase()} ${path}: ${mismatch}`);
  }

  /** Creates a token with `role` through the API. */
  async token(
    role: 'agent' | 'analyst' | 'admin',
    name = `${role}-${randomBytes(3).toString('hex')}`,
  ): Promise<string> {
    const res = await this.request('/v1/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, role }),
    });
    if (res.status !== 201) throw new Error(`token creation failed: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { token: string }).token;
  }

  /** Multipart submission: the metadata part first, then the file part. */
  async submit(bytes: Buffer, metadata: Record<string, unknown>, token: string): Promise<Response> {
    const form = new FormData();
    form.append('metadata', JSON.stringify(metadata));
    form.append('file', new Blob([bytes]), 'upload.bin');
    return this.request('/v1/submissions', { method: 'POST', body: form, token });
  }
}

/** Every file under `dir`, relative, recursively (temporary files included). */
export async function listFiles(dir: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}
