import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';

/** The repository (or image) root: the nearest folder above this module whose package.json is Specimen's. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const { name } = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string };
      if (name === 'specimen') return dir;
    }
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('cannot find the Specimen project root (package.json named "specimen")');
    dir = parent;
  }
}

const MiB = 1024 * 1024;
// Public on purpose: pseudonyms made with it hide nothing, which is why production must set its own key.
const DEVELOPMENT_PSEUDONYM_KEY = 'specimen-development-pseudonym-key-not-secret';
const int = (min: number) => z.coerce.number().int().min(min);
const urlWith = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL with scheme ${protocols.join(' or ')}`,
  );

/** Environment variables Specimen reads; every one has a default that runs on a development machine. */
export function envSchema(root: string) {
  return z.object({
    /** production | development | test. */
    NODE_ENV: z.enum(['production', 'development', 'test']).default('development'),
    /** Interface the HTTP API listens on. */
    HOST: z.string().min(1).default('127.0.0.1'),
    /** TCP port of the HTTP API. */
    PORT: int(0).max(65535).default(3000),
    /** pino level. */
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** PostgreSQL; the database is created when missing. */
    DATABASE_URL: urlWith(['postgres:', 'postgresql:']).default(
      'postgres://postgres@127.0.0.1:5432/specimen',
    ),
    /** Connections per process. */
    DATABASE_POOL_MAX: int(1).default(10),
    /** Longest wait for a new connection to PostgreSQL; then DATABASE_UNAVAILABLE (0: no bound). */
    DATABASE_CONNECT_TIMEOUT_MS: int(0).default(5_000),
    /**
     * Longest wait for a statement's answer in the API, client side (0: no bound): a PostgreSQL that accepts
     * and never answers held requests for as long as it hung, while readiness said so after
     * HEALTH_CHECK_TIMEOUT_MS. The scanner's statements are not bounded (DatabaseModule.forRoot).
     */
    DATABASE_QUERY_TIMEOUT_MS: int(0).default(60_000),
    /** Redis for BullMQ; must run with maxmemory-policy noeviction. */
    REDIS_URL: urlWith(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
    /** Prefix of every BullMQ key, so several deployments (or test runs) can share one Redis. */
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('specimen'),
    /** file:///abs/dir or s3://ACCESS:SECRET@host:port/bucket?ssl=false */
    STORAGE_URL: urlWith(['file:', 's3:']).default(pathToFileURL(join(root, 'var', 'objects')).href),
    /** Part size of S3 multipart uploads (bytes). */
    STORAGE_PART_SIZE: int(5 * MiB).default(8 * MiB),
    /** S3: how long a request may wait for the server's answer before it fails (ms). */
    STORAGE_TIMEOUT_MS: int(100).default(30_000),
    /** When set (at least 16 characters), an admin token with this value is created at start-up. */
    SPECIMEN_ADMIN_TOKEN: z.string().min(16).optional(),
    /**
     * How long a small JSON body (every route's but the rule sources', at most 1 MiB) may take to arrive
     * once its headers have: several such routes read their body before any token check (enrollment), and
     * the server has no overall request deadline (uploads may take hours).
     */
    JSON_BODY_TIMEOUT_MS: int(100).default(30_000),
    /**
     * A ruleset or retrohunt sent to the API compiles in a process of its own, stopped after this long:
     * libyara cannot cancel a compile, and some rules take minutes to compile.
     */
    RULES_COMPILE_TIMEOUT_MS: int(1000).default(60_000),
    /** That process is stopped when its resident memory passes this many MB. */
    RULES_COMPILE_MAX_MB: int(64).default(2048),
    /** Largest sample accepted by the multipart upload (bytes). */
    UPLOAD_MAX_BYTES: int(1).default(512 * MiB),
    /** Largest sample accepted by resumable (tus) uploads (bytes). */
    RESUMABLE_MAX_BYTES: int(1).default(4 * 1024 * MiB),
    /** A resumable upload with no new bytes for this long expires; its parts are then swept. */
    RESUMABLE_EXPIRY_SECONDS: int(1).default(24 * 60 * 60),
    /** How often each API process sweeps expired resumable uploads and their parts. */
    RESUMABLE_SWEEP_INTERVAL_MS: int(100).default(10 * 60_000),
    /** Requests an enrolled agent may make per minute (counted in Redis by agent id, across replicas). */
    RATE_LIMIT_PER_MINUTE: int(1).default(600),
    /** Scan jobs waiting or delayed above which byte uploads get 503 BACKPRESSURE (lookups still work). */
    SCAN_BACKLOG_MAX: int(0).default(10_000),
    /** How long an API process reuses the scan backlog depth it last read from Redis. */
    SCAN_BACKLOG_CACHE_MS: int(0).default(1_000),
    /** Retry-After sent with 503 BACKPRESSURE. */
    BACKPRESSURE_RETRY_AFTER_SECONDS: int(1).default(30),
    /** Scans a scanner process runs at once. */
    SCAN_CONCURRENCY: int(1).default(Math.max(2, availableParallelism())),
    /**
     * Scan jobs a scanner process holds at once (default 32 × SCAN_CONCURRENCY): beyond the SCAN_CONCURRENCY
     * scanning, the others read their sample row or wait for their result to be recorded, so database and
     * queue round trips overlap the scans and results are recorded in batches. Throughput is at most the jobs
     * held over a job's time from fetch to completion (tens of milliseconds on a busy machine): 8 per scan
     * left the threads idle half the time there.
     */
    SCAN_JOBS_IN_FLIGHT: int(1).max(1024).optional(),
    /**
     * Scans of samples up to 64 KiB (read whole into memory) handed to the thread pool ahead of the
     * SCAN_CONCURRENCY running (default SCAN_CONCURRENCY): they wait in libuv's queue, so a thread that
     * finishes a scan starts the next at once instead of waiting for the event loop to hand it one (which,
     * busy with queue and database replies, left the threads idle: bench:scan-e2e 0.32-0.42 with none,
     * 0.39-0.49 with one per thread). 0 hands over a scan only when a thread is free. None when
     * SCANNER_THREADS is above SCAN_CONCURRENCY: a spare thread would run it, past SCAN_CONCURRENCY.
     */
    SCAN_PREFETCH: int(0).max(1024).optional(),
    /**
     * Size of libuv's thread pool in the scanner (YARA scans, fs and crypto share it); default SCAN_CONCURRENCY.
     */
    SCANNER_THREADS: int(1).max(1024).optional(),
    /**
     * A sample still unscanned this long after it was first seen, whose scan job Redis no longer has (a
     * Redis restarted without its data), is queued again by the outbox re-drive.
     */
    SCAN_STRANDED_AFTER_MS: int(1000).default(120_000),
    /** Retrohunt and retro-scan batch jobs a scanner process runs at once; low so ingest scans keep flowing. */
    RETROHUNT_CONCURRENCY: int(1).default(1),
    /** Samples per retrohunt (and retro-scan) batch job. */
    RETROHUNT_BATCH_SIZE: int(1).max(10_000).default(100),
    /**
     * An unfinished retrohunt or retro-scan whose batches have not moved for this long, and whose next batch
     * job Redis no longer holds (a Redis restarted without its data), gets that job again from the outbox
     * re-drive, from where it was.
     */
    RETROHUNT_STALLED_AFTER_MS: int(1000).default(120_000),
    /**
     * A retro-scan whose check found samples still without their scan (queued, or lost by Redis and queued
     * again) looks again this much later; it is done once a check finds every sample scanned.
     */
    RETROSCAN_CHECK_EVERY_MS: int(100).default(60_000),
    /** A scan that takes longer ends as `timeout` (libyara counts whole seconds). */
    SCAN_TIMEOUT_MS: int(1000).default(60_000),
    /** Attempts of a scan job before it is kept as failed. */
    SCAN_ATTEMPTS: int(1).default(5),
    /** YARA file loaded as the first active ruleset when the database has none. */
    DEFAULT_RULESET_PATH: z
      .string()
      .min(1)
      .default(join(root, 'libs', 'yara', 'rules', 'default.yar')),
    /** Folder of compiled rulesets, keyed by source sha256 and libyara version, so a start does not recompile. */
    RULES_CACHE_DIR: z
      .string()
      .min(1)
      .default(join(root, 'var', 'cache', 'rules')),
    /** How often a scanner checks the active ruleset in the database, besides Redis change notifications. */
    RULES_POLL_MS: int(100).default(30_000),
    /** Rule score (meta `score`, 0–100) from which a match makes a sample malicious. */
    VERDICT_MALICIOUS_SCORE: int(0).max(100).default(70),
    /** Rule score from which a match makes a sample suspicious. */
    VERDICT_SUSPICIOUS_SCORE: int(0).max(100).default(30),
    /**
     * Key of the HMAC that turns a submitter's token id into the pseudonym analysts see. Required in
     * production; elsewhere a fixed development key is used.
     */
    PSEUDONYM_KEY: z.string().min(32).optional(),
    /**
     * How long (ms) an API replica may answer from memory who a known bearer token is, instead of one
     * database query per request; 0 disables. Revocations and consent changes reach every replica at once
     * over Redis pub/sub, and a replica that is not subscribed keeps nothing: this only bounds how long a
     * change whose publish failed can go unseen by the other replicas.
     */
    AUTH_CACHE_MS: int(0).max(600_000).default(5_000),
    /** Password of the AES-256 ZIP archives of sample downloads. */
    DOWNLOAD_ZIP_PASSWORD: z.string().min(1).max(128).default('infected'),
    // --- data stewardship (issue 7) ---
    /** Days after a sample's last sighting when its raw data is destroyed (fractions allowed). */
    RETENTION_DAYS: z.coerce.number().positive().default(365),
    /** How often the scheduled retention sweep runs (ms). */
    RETENTION_SWEEP_MS: int(1000).default(3_600_000),
    /** How often the statistics roll-up and the consent-purge sweep run (ms). */
    STATS_ROLLUP_MS: int(1000).default(600_000),
    /** Statistics cells built from fewer distinct agents than this are never shown. */
    STATS_K_ANONYMITY: int(2).default(5),
    /** Samples handled per transaction by the consent purge and the retention sweep. */
    PURGE_BATCH_SIZE: int(1).default(200),
    /**
     * Hours an upload's `Idempotency-Key` is remembered (fractions allowed): a retry with the key within this
     * time gets the first answer instead of a second submission. The retention sweep forgets older keys (so a
     * key lasts until the first sweep after this), and a key goes with its submission whenever that is
     * deleted (retention, consent purge). A day covers any client's retries, as Stripe's does.
     */
    IDEMPOTENCY_KEY_HOURS: z.coerce.number().positive().default(24),
    /** Tests only: the consent purge fails after this many batches (refused in production). */
    PURGE_FAIL_AFTER_BATCHES: int(1).optional(),
    // --- end data stewardship
    /** TCP port of the scanner's health and metrics server (on HOST); 0 picks a free port. */
    SCANNER_HTTP_PORT: int(0).max(65535).default(3001),
    /** When set (at least 16 characters), /metrics requires `Authorization: Bearer <METRICS_TOKEN>`. */
    METRICS_TOKEN: z.string().min(16).optional(),
    /** Longest wait for each readiness check (PostgreSQL, Redis, storage) before it counts as failed. */
    HEALTH_CHECK_TIMEOUT_MS: int(100).default(2_000),
    /** How long a process reuses the queue depths it read from Redis for /metrics. */
    METRICS_QUEUE_CACHE_MS: int(0).default(5_000),
  });
}

export type Env = z.infer<ReturnType<typeof envSchema>>;

/** The typed configuration every app and lib receives; built once from the environment. */
export interface Config {
  env: Env['NODE_ENV'];
  http: { host: string; port: number };
  logLevel: Env['LOG_LEVEL'];
  database: { url: string; poolMax: number; connectTimeoutMs: number; queryTimeoutMs: number };
  redis: { url: string; queuePrefix: string };
  storage: { url: string; partSize: number; timeoutMs: number };
  auth: { adminToken: string | undefined; pseudonymKey: string; cacheMs: number };
  limits: {
    jsonBodyTimeoutMs: number;
    ruleCompile: { timeoutMs: number; maxMemoryMb: number };
    uploadMaxBytes: number;
    resumableMaxBytes: number;
    resumableExpirySeconds: number;
    resumableSweepIntervalMs: number;
    ratePerMinute: number;
    scanBacklogMax: number;
    scanBacklogCacheMs: number;
    backpressureRetryAfterSeconds: number;
  };
  download: { zipPassword: string };
  /** Data stewardship: retention, consent purge, k-anonymous statistics. */
  stewardship: {
    retentionDays: number;
    retentionSweepMs: number;
    rollupMs: number;
    kAnonymity: number;
    purgeBatchSize: number;
    purgeFailAfterBatches: number | undefined;
    idempotencyKeyHours: number;
  };
  observability: {
    scannerHttpPort: number;
    metricsToken: string | undefined;
    healthCheckTimeoutMs: number;
    queueStatsCacheMs: number;
  };
  scanner: {
    concurrency: number;
    /** Scan jobs held at once (at least `concurrency`). */
    jobsInFlight: number;
    /** Scans handed to the thread pool beyond `concurrency`, waiting in its queue for a free thread. */
    prefetch: number;
    /** UV_THREADPOOL_SIZE of scanner processes. */
    threads: number;
    strandedAfterMs: number;
    retrohuntConcurrency: number;
    retrohuntBatchSize: number;
    /** RETROHUNT_STALLED_AFTER_MS. */
    retrohuntStalledAfterMs: number;
    /** RETROSCAN_CHECK_EVERY_MS. */
    retroscanCheckEveryMs: number;
    timeoutMs: number;
    attempts: number;
    defaultRulesetPath: string;
    rulesCacheDir: string;
    rulesPollMs: number;
    maliciousScore: number;
    suspiciousScore: number;
  };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Parses the environment once. Throws a {@link ConfigError} listing every bad variable, never only the first.
 * Only this library reads process.env.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const root = projectRoot();
  const parsed = envSchema(root).safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.VERDICT_SUSPICIOUS_SCORE > e.VERDICT_MALICIOUS_SCORE) {
    problems.push('VERDICT_SUSPICIOUS_SCORE: must not exceed VERDICT_MALICIOUS_SCORE');
  }
  if (e.STORAGE_URL.startsWith('file:') && !resolve(fileURLToPath(e.STORAGE_URL)).startsWith('/')) {
    problems.push('STORAGE_URL: a file: URL must hold an absolute path');
  }
  if (e.NODE_ENV === 'production' && e.PSEUDONYM_KEY === undefined) {
    problems.push('PSEUDONYM_KEY: required in production (at least 32 characters)');
  }
  if (e.NODE_ENV === 'production' && e.PURGE_FAIL_AFTER_BATCHES !== undefined) {
    problems.push('PURGE_FAIL_AFTER_BATCHES: a test hook, refused in production');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    env: e.NODE_ENV,
    http: { host: e.HOST, port: e.PORT },
    logLevel: e.LOG_LEVEL,
    database: {
      url: e.DATABASE_URL,
      poolMax: e.DATABASE_POOL_MAX,
      connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
      queryTimeoutMs: e.DATABASE_QUERY_TIMEOUT_MS,
    },
    redis: { url: e.REDIS_URL, queuePrefix: e.QUEUE_PREFIX },
    storage: { url: e.STORAGE_URL, partSize: e.STORAGE_PART_SIZE, timeoutMs: e.STORAGE_TIMEOUT_MS },
    auth: {
      adminToken: e.SPECIMEN_ADMIN_TOKEN,
      pseudonymKey: e.PSEUDONYM_KEY ?? DEVELOPMENT_PSEUDONYM_KEY,
      cacheMs: e.AUTH_CACHE_MS,
    },
    limits: {
      jsonBodyTimeoutMs: e.JSON_BODY_TIMEOUT_MS,
      ruleCompile: { timeoutMs: e.RULES_COMPILE_TIMEOUT_MS, maxMemoryMb: e.RULES_COMPILE_MAX_MB },
      uploadMaxBytes: e.UPLOAD_MAX_BYTES,
      resumableMaxBytes: e.RESUMABLE_MAX_BYTES,
      resumableExpirySeconds: e.RESUMABLE_EXPIRY_SECONDS,
      resumableSweepIntervalMs: e.RESUMABLE_SWEEP_INTERVAL_MS,
      ratePerMinute: e.RATE_LIMIT_PER_MINUTE,
      scanBacklogMax: e.SCAN_BACKLOG_MAX,
      scanBacklogCacheMs: e.SCAN_BACKLOG_CACHE_MS,
      backpressureRetryAfterSeconds: e.BACKPRESSURE_RETRY_AFTER_SECONDS,
    },
    download: { zipPassword: e.DOWNLOAD_ZIP_PASSWORD },
    stewardship: {
      retentionDays: e.RETENTION_DAYS,
      retentionSweepMs: e.RETENTION_SWEEP_MS,
      rollupMs: e.STATS_ROLLUP_MS,
      kAnonymity: e.STATS_K_ANONYMITY,
      purgeBatchSize: e.PURGE_BATCH_SIZE,
      purgeFailAfterBatches: e.PURGE_FAIL_AFTER_BATCHES,
      idempotencyKeyHours: e.IDEMPOTENCY_KEY_HOURS,
    },
    observability: {
      scannerHttpPort: e.SCANNER_HTTP_PORT,
      metricsToken: e.METRICS_TOKEN,
      healthCheckTimeoutMs: e.HEALTH_CHECK_TIMEOUT_MS,
      queueStatsCacheMs: e.METRICS_QUEUE_CACHE_MS,
    },
    scanner: {
      concurrency: e.SCAN_CONCURRENCY,
      jobsInFlight: Math.max(e.SCAN_CONCURRENCY, e.SCAN_JOBS_IN_FLIGHT ?? 32 * e.SCAN_CONCURRENCY),
      prefetch:
        (e.SCANNER_THREADS ?? e.SCAN_CONCURRENCY) > e.SCAN_CONCURRENCY
          ? 0
          : (e.SCAN_PREFETCH ?? e.SCAN_CONCURRENCY),
      threads: e.SCANNER_THREADS ?? e.SCAN_CONCURRENCY,
      strandedAfterMs: e.SCAN_STRANDED_AFTER_MS,
      retrohuntConcurrency: e.RETROHUNT_CONCURRENCY,
      retrohuntBatchSize: e.RETROHUNT_BATCH_SIZE,
      retrohuntStalledAfterMs: e.RETROHUNT_STALLED_AFTER_MS,
      retroscanCheckEveryMs: e.RETROSCAN_CHECK_EVERY_MS,
      timeoutMs: e.SCAN_TIMEOUT_MS,
      attempts: e.SCAN_ATTEMPTS,
      defaultRulesetPath: e.DEFAULT_RULESET_PATH,
      rulesCacheDir: resolve(e.RULES_CACHE_DIR),
      rulesPollMs: e.RULES_POLL_MS,
      maliciousScore: e.VERDICT_MALICIOUS_SCORE,
      suspiciousScore: e.VERDICT_SUSPICIOUS_SCORE,
    },
  };
}
