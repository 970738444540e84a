import {
  DelayedError,
  Queue,
  UnrecoverableError,
  Worker,
  type Job,
  type JobsOptions,
  type WorkerOptions,
} from 'bullmq';
import { JobName, QueueName, type JobItem, type RetroscanBatchJob, type RetroscanCheckJob } from '#contracts';
import { type RedisCircuit, guardedCall, reconnectDelay } from './redis-circuit.js';

export { UnrecoverableError };

/** Where queues live: one Redis, one key prefix per deployment (tests use their own). */
export interface QueueConnection {
  url: string;
  prefix: string;
}

/** Which job names each queue carries; a worker must bring one handler for each, no more. */
export const QUEUE_JOBS: Record<QueueName, readonly JobName[]> = {
  [QueueName.Scan]: [JobName.ScanSample],
  [QueueName.Retrohunt]: [JobName.RetrohuntBatch, JobName.RetroscanBatch, JobName.RetroscanCheck],
  [QueueName.Maintenance]: [
    JobName.OutboxRedrive,
    JobName.ConsentPurge,
    JobName.ConsentSweep,
    JobName.RetentionSweep,
    JobName.StatsRollup,
    JobName.RetrohuntRulesSweep,
  ],
  [QueueName.Sightings]: [JobName.LookupSightings],
};

type ItemOf<N extends JobName> = Extract<JobItem, { name: N }>;
export type JobData<N extends JobName> = ItemOf<N>['data'];

/**
 * Deterministic scan job id: the same sample queued twice for the same reason is one job. Completed jobs
 * are kept (24 h) and keep their id, so a reason must name what it is once: an ingest names the submission
 * that stored the sample, since a sample deleted (consent purge, retention) and uploaded again is a new one
 * whose job must not be taken for the finished job of the old one.
 */
export const scanJobId = (sha256: string, reason: string): string => `scan-${reason}-${sha256}`;

/** The scan job of a sample stored by the submission `submissionId` (the same id when its outbox row re-drives it). */
export const ingestScanJobId = (sha256: string, submissionId: string): string =>
  scanJobId(sha256, `ingest-${submissionId}`);

/** That job as ingest adds it and the re-drive adds it again when Redis lost it: the item and its id. */
export const ingestScanJob = (sha256: string, submissionId: string): { item: JobItem; jobId: string } => ({
  item: { queue: QueueName.Scan, name: JobName.ScanSample, data: { sha256, submissionId } },
  jobId: ingestScanJobId(sha256, submissionId),
});

/** Deterministic id of a retrohunt batch job: the same batch queued twice is one job. */
export const retrohuntJobId = (retrohuntId: string, after?: string | null): string =>
  `retrohunt-${retrohuntId}-${after ?? 'start'}`;

/** One retro-scan: the activated ruleset and the instant of the activation that asked for it. */
export const retroscanKey = (data: Pick<RetroscanBatchJob, 'rulesetId' | 'until' | 'rule'>): string =>
  `retroscan-${data.rulesetId}-${Date.parse(data.until)}${data.rule === undefined ? '' : `-rule-${data.rule}`}`;

/** Deterministic id of a retro-scan batch job (the first batch has no `after`). */
export const retroscanJobId = (data: RetroscanBatchJob): string =>
  `${retroscanKey(data)}-${data.after ?? 'start'}`;

/**
 * Deterministic id of a retro-scan's check job: one for all its steps and passes (it is put back delayed
 * between them), so the re-drive can tell whether Redis still holds it. No batch job has it (theirs end in
 * a sha256 or `start`).
 */
export const retroscanCheckJobId = (data: Pick<RetroscanBatchJob, 'rulesetId' | 'until' | 'rule'>): string =>
  `${retroscanKey(data)}-check`;

/**
 * The jobs of a retrohunt's and a retro-scan's chains, as their batches add them and the re-drive adds them
 * again when Redis lost them: the item and its deterministic id.
 */
export const retrohuntBatchJob = (
  retrohuntId: string,
  after: string | null,
): { item: JobItem; jobId: string } => ({
  item: {
    queue: QueueName.Retrohunt,
    name: JobName.RetrohuntBatch,
    data: after === null ? { retrohuntId } : { retrohuntId, after },
  },
  jobId: retrohuntJobId(retrohuntId, after),
});
export const retroscanBatchJob = (data: RetroscanBatchJob): { item: JobItem; jobId: string } => ({
  item: { queue: QueueName.Retrohunt, name: JobName.RetroscanBatch, data },
  jobId: retroscanJobId(data),
});
export const retroscanCheckJob = (data: RetroscanCheckJob): { item: JobItem; jobId: string } => ({
  item: { queue: QueueName.Retrohunt, name: JobName.RetroscanCheck, data },
  jobId: retroscanCheckJobId(data),
});

const PRODUCER_DEADLINE_MS = 3_000;

/** The job states reported by {@link QueueProducer.stats}. */
export const QUEUE_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** One queue state: how many jobs, and how old (seconds since creation) the oldest of them is. */
export interface QueueStateStats {
  queue: QueueName;
  state: QueueState;
  depth: number;
  oldestAgeSeconds: number;
}

const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
  // Completed jobs are kept a while so the deterministic id still deduplicates; failed ones stay for replay.
  removeOnComplete: { age: 24 * 3600, count: 100_000 },
  removeOnFail: false,
};

/**
 * The producer side: typed enqueue and queue depths. Producers fail fast when Redis is down (no offline
 * queue), so the caller can fall back on the outbox instead of hanging a request: within a deadline, and
 * at once while the process' {@link RedisCircuit} knows Redis to be unreachable.
 */
export class QueueProducer {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    private readonly connection: QueueConnection,
    private readonly circuit: RedisCircuit,
    private readonly jobOptions: JobsOptions = {},
  ) {}

  private queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      queue = new Queue(name, {
        // Not enableOfflineQueue:false + skipWaitingForReady: BullMQ's connection then fails its first
        // command before the socket is ready and stays failed. Fail fast with a deadline instead.
        // BullMQ's own retryStrategy backs off to one reconnect every 20 s: after a 60 s outage the first
        // upload queued directly came 14.6 s after Redis was back.
        connection: {
          url: this.connection.url,
          maxRetriesPerRequest: 1,
          connectTimeout: 2_000,
          retryStrategy: reconnectDelay,
        },
        prefix: this.connection.prefix,
        defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, ...this.jobOptions },
      });
      // A failed reconnect tells the circuit before any request has to (and is not printed as unhandled).
      queue.on('error', (e) => this.circuit.failed(e));
      this.queues.set(name, queue);
    }
    return queue;
  }

  /**
   * Throws QUEUE_UNAVAILABLE (Retry-After) at once while Redis is known to be unreachable: for work that must
   * not begin (an audit record, say) when its Redis part cannot follow.
   */
  assertReachable(): void {
    this.circuit.check('the job queue is unavailable');
  }

  /** Adds one job with a deterministic id (add(), not addBulk(), so the id deduplicates). */
  async add(item: JobItem, jobId: string, options: JobsOptions = {}): Promise<void> {
    await this.withDeadline(() => this.queue(item.queue).add(item.name, item.data, { ...options, jobId }));
  }

  /** Whether the queue holds the job `jobId` in any state (waiting, active, completed, failed…). */
  async hasJob(name: QueueName, jobId: string): Promise<boolean> {
    return (await this.jobState(name, jobId)) !== 'unknown';
  }

  /** The state of the job `jobId` (`unknown`: the queue does not hold it, never had it or lost it). */
  async jobState(name: QueueName, jobId: string): Promise<string> {
    return this.withDeadline(() => this.queue(name).getJobState(jobId));
  }

  /**
   * Redis calls from a request path either answer within the deadline or fail with QUEUE_UNAVAILABLE, at
   * once (`call` not made: no command waits in ioredis' offline queue) while Redis is known to be down.
   */
  private withDeadline<T>(command: () => Promise<T>): Promise<T> {
    return guardedCall(this.circuit, 'the job queue is unavailable', PRODUCER_DEADLINE_MS, command);
  }

  /** Jobs waiting, active, delayed and failed in a queue. */
  async counts(
    name: QueueName,
  ): Promise<Record<'waiting' | 'active' | 'delayed' | 'failed' | 'completed', number>> {
    const c = await this.queue(name).getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
    return {
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0,
      completed: c.completed ?? 0,
    };
  }

  /** Jobs of a queue not yet picked up: waiting (including prioritized) and delayed. */
  async backlog(name: QueueName): Promise<number> {
    const c = await this.withDeadline(() =>
      this.queue(name).getJobCounts('waiting', 'prioritized', 'delayed'),
    );
    return (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0);
  }

  /** Failed jobs of a queue, most recently failed first. */
  async failed(name: QueueName, limit: number): Promise<FailedJob[]> {
    const jobs = await this.withDeadline(() => this.queue(name).getFailed(0, limit - 1));
    return jobs.filter((j) => j.id !== undefined).map(failedJob);
  }

  /**
   * Moves failed jobs back to waiting with their attempts reset: the given ids, or every failed job (up to
   * `limit`). Returns the ids replayed and those that were not failed jobs of the queue.
   */
  async replayFailed(
    name: QueueName,
    ids: readonly string[] | undefined,
    limit = 1000,
  ): Promise<{ replayed: string[]; notFailed: string[] }> {
    const wanted = ids ?? (await this.failed(name, limit)).map((j) => j.id);
    const replayed: string[] = [];
    const notFailed: string[] = [];
    for (const id of wanted) {
      const job = await this.withDeadline(() => this.queue(name).getJob(id));
      if (job === undefined || !(await job.isFailed())) {
        notFailed.push(id);
        continue;
      }
      await this.withDeadline(() =>
        job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true }),
      );
      replayed.push(id);
    }
    return { replayed, notFailed };
  }

  /**
   * Depth of each job state of a queue and the age of its oldest job (by creation time; 0 when empty),
   * within the producer deadline. Completed jobs get a depth only: their age says nothing useful.
   */
  async stats(name: QueueName, now = Date.now()): Promise<QueueStateStats[]> {
    return this.withDeadline(async () => {
      const queue = this.queue(name);
      const counts = await queue.getJobCounts(...QUEUE_STATES);
      return Promise.all(
        QUEUE_STATES.map(async (state): Promise<QueueStateStats> => {
          const depth = counts[state] ?? 0;
          let oldestAgeSeconds = 0;
          if (depth > 0 && state !== 'completed') {
            const [oldest] = await queue.getJobs([state], 0, 0, true);
            if (oldest !== undefined) oldestAgeSeconds = Math.max(0, (now - oldest.timestamp) / 1000);
          }
          return { queue: name, state, depth, oldestAgeSeconds };
        }),
      );
    });
  }

  /** Workers (scanner processes' BullMQ workers) connected to a queue now, from Redis' client list. */
  async workers(name: QueueName): Promise<number> {
    return this.withDeadline(() => this.queue(name).getWorkersCount());
  }

  /** Creates or updates a job scheduler of a queue, within the producer deadline (Redis may be down). */
  async upsertJobScheduler(name: QueueName, ...args: Parameters<Queue['upsertJobScheduler']>): Promise<void> {
    await this.withDeadline(() => this.queue(name).upsertJobScheduler(...args));
  }

  /** Whether a queue has the job scheduler `id` (a Redis restarted without its data has none). */
  async hasJobScheduler(name: QueueName, id: string): Promise<boolean> {
    return (await this.withDeadline(() => this.queue(name).getJobScheduler(id))) !== undefined;
  }

  async ping(): Promise<void> {
    await this.withDeadline(() => this.queue(QueueName.Scan).getJobCounts('waiting'));
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}

/** A job kept as failed, as an admin sees it. */
export interface FailedJob {
  id: string;
  name: string;
  data: Record<string, unknown>;
  failedReason: string;
  attemptsMade: number;
  failedAt: Date | null;
  createdAt: Date;
}

function failedJob(job: Job): FailedJob {
  return {
    id: job.id ?? '',
    name: job.name,
    data: job.data as Record<string, unknown>,
    failedReason: job.failedReason,
    attemptsMade: job.attemptsMade,
    failedAt: job.finishedOn === undefined ? null : new Date(job.finishedOn),
    createdAt: new Date(job.timestamp),
  };
}

/**
 * Handlers by job name; {@link startWorker} checks at boot that they are exactly the queue's jobs. `token` is
 * the worker's lock on the job (see {@link postponeJob}).
 */
export type JobHandlers = {
  [N in JobName]?: (data: JobData<N>, job: Job, token?: string) => Promise<unknown>;
};

/**
 * Puts the job the worker holds (`token`) back as delayed for `delayMs`, under its own id, and throws what
 * tells BullMQ so (not a failure: no attempt is spent). A handler calls it last and lets the error through.
 * Unlike a new job under another id, the same id keeps saying where the work is. With `data`, the job comes
 * back carrying that instead (where a step of a chain that is one job goes on).
 */
export async function postponeJob(
  job: Job,
  token: string | undefined,
  delayMs: number,
  data?: unknown,
): Promise<never> {
  // The new data first: a job stopped between the two runs again with it, never with the old.
  if (data !== undefined) await job.updateData(data);
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}

/** The same stalled-job settings in every worker. */
const STALLED = { stalledInterval: 30_000, maxStalledCount: 2, lockDuration: 60_000 } as const;

/**
 * Starts a worker for one queue. Every job name of the queue must have exactly one handler (checked here,
 * at boot); an unknown name fails the job for good. Handlers throw on failure so BullMQ records it.
 * Workers wait for Redis to come back (no request limit), unlike producers.
 */
export function startWorker<Q extends QueueName>(
  queue: Q,
  handlers: JobHandlers,
  options: { connection: QueueConnection; concurrency: number } & Partial<WorkerOptions>,
): Worker {
  const expected = new Set<string>(QUEUE_JOBS[queue]);
  const given = Object.entries(handlers)
    .filter(([, h]) => h !== undefined)
    .map(([n]) => n);
  const missing = [...expected].filter((n) => !given.includes(n));
  const extra = given.filter((n) => !expected.has(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `queue ${queue}: handlers do not match its jobs (missing: ${missing.join(', ') || 'none'}; unexpected: ${extra.join(', ') || 'none'})`,
    );
  }
  const { connection, concurrency, ...rest } = options;
  const worker = new Worker(
    queue,
    async (job: Job, token?: string) => {
      const handler = handlers[job.name as JobName] as
        ((data: unknown, job: Job, token?: string) => Promise<unknown>) | undefined;
      if (handler === undefined) throw new UnrecoverableError(`no handler for job ${job.name}`);
      return handler(job.data, job, token);
    },
    {
      // Not BullMQ's back-off (up to 20 s between reconnects): scans resumed 17 s after a 40 s outage ended.
      connection: { url: connection.url, maxRetriesPerRequest: null, retryStrategy: reconnectDelay },
      prefix: connection.prefix,
      concurrency,
      ...STALLED,
      ...rest,
      autorun: true,
    },
  );
  return worker;
}
