import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Worker } from 'bullmq';
import { CONFIG, type Config } from '#config';
import { JobName, QueueName } from '#contracts';
import {
  ConnectionErrorThrottle,
  QueueProducer,
  isConnectionFailure,
  postponeJob,
  startWorker,
  type QueueConnection,
} from '#queue';
import { LookupSightingsWriter } from './lookup-sightings.js';
import { OutboxRedrive } from './outbox.redrive.js';
import { RetrohuntRulesSweep } from './retrohunt-rules.sweep.js';
import { RetrohuntProcessor } from './retrohunt.processor.js';
import { RetroscanProcessor } from './retroscan.processor.js';
import { ScanProcessor } from './scan.processor.js';
import { StewardshipJobs } from './stewardship/stewardship.jobs.js';

const REDRIVE_EVERY_MS = 10_000;
const REDRIVE_OLDER_THAN_MS = 5_000;
/** How often the job schedulers are checked for: a Redis restarted without its data has lost them. */
const SCHEDULES_CHECK_EVERY_MS = 10_000;
/** While the workers close, how often Redis is checked for (they cannot close while it is down). */
const SHUTDOWN_REDIS_CHECK_MS = 1_000;
/** Options of the scheduled maintenance jobs; one attempt each (over the producer's default options). */
const SCHEDULED_JOB_OPTIONS = { attempts: 1, removeOnComplete: 100, removeOnFail: 100 };

/** Lookup-sightings jobs a scanner holds at once; their writes are committed together (one statement). */
const SIGHTINGS_JOBS_IN_FLIGHT = 32;

/** Starts the workers once the application is up and closes them (waiting for active jobs) on shutdown. */
@Injectable()
export class WorkersService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WorkersService.name);
  private readonly workers: Worker[] = [];
  /** Each worker's throttle of connection errors (see ConnectionErrorThrottle). */
  private readonly throttles: ConnectionErrorThrottle[] = [];
  private schedulesTimer: NodeJS.Timeout | undefined;
  /** The check of the job schedulers under way, if any (one at a time). */
  private checkingSchedules: Promise<void> | null = null;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(ScanProcessor) private readonly scan: ScanProcessor,
    @Inject(OutboxRedrive) private readonly redrive: OutboxRedrive,
    @Inject(StewardshipJobs) private readonly stewardship: StewardshipJobs,
    @Inject(RetrohuntProcessor) private readonly retrohunt: RetrohuntProcessor,
    @Inject(RetrohuntRulesSweep) private readonly rulesSweep: RetrohuntRulesSweep,
    @Inject(RetroscanProcessor) private readonly retroscan: RetroscanProcessor,
    @Inject(LookupSightingsWriter) private readonly sightings: LookupSightingsWriter,
    @Inject(QueueProducer) private readonly producer: QueueProducer,
  ) {}

  private get connection(): QueueConnection {
    return { url: this.config.redis.url, prefix: this.config.redis.queuePrefix };
  }

  async onApplicationBootstrap(): Promise<void> {
    const scan = startWorker(
      QueueName.Scan,
      { [JobName.ScanSample]: (data, job) => this.scan.handle(data, job) },
      // More jobs than scans: the extra ones do their database and queue round trips while others scan
      // (ScanProcessor keeps the scans themselves to SCAN_CONCURRENCY).
      { connection: this.connection, concurrency: this.config.scanner.jobsInFlight },
    );
    const maintenance = startWorker(
      QueueName.Maintenance,
      {
        [JobName.OutboxRedrive]: (data) => this.redrive.handle(data),
        [JobName.ConsentPurge]: (data) => this.stewardship.purge(data),
        [JobName.ConsentSweep]: () => this.stewardship.consentSweep(),
        [JobName.RetentionSweep]: (data) => this.stewardship.retentionSweep(data),
        [JobName.StatsRollup]: () => this.stewardship.rollup(),
        [JobName.RetrohuntRulesSweep]: () => this.rulesSweep.handle(),
      },
      { connection: this.connection, concurrency: 1 },
    );
    // Lookup sightings have a queue of their own, so a flood of lookups never delays a consent purge, and
    // many jobs at once: the writer commits the jobs in hand together, one statement for all of them.
    const sightings = startWorker(
      QueueName.Sightings,
      { [JobName.LookupSightings]: (data) => this.sightings.handle(data) },
      { connection: this.connection, concurrency: SIGHTINGS_JOBS_IN_FLIGHT },
    );
    // Its own queue and few slots: retrohunts and retro-scans never take a scan worker's place.
    const retrohunt = startWorker(
      QueueName.Retrohunt,
      {
        [JobName.RetrohuntBatch]: (data, job) => this.retrohunt.handle(data, job),
        [JobName.RetroscanBatch]: (data, job, token) =>
          this.retroscan.handle(data, (delayMs) => postponeJob(job, token, delayMs)),
        [JobName.RetroscanCheck]: (data, job, token) =>
          this.retroscan.check(data, (delayMs, next) => postponeJob(job, token, delayMs, next)),
      },
      { connection: this.connection, concurrency: this.config.scanner.retrohuntConcurrency },
    );
    for (const worker of [scan, maintenance, retrohunt, sightings]) {
      // A Redis outage is one line a minute per worker, not a stack per reconnect attempt.
      const throttle = new ConnectionErrorThrottle();
      this.throttles.push(throttle);
      worker.on('error', (e) => {
        const line = throttle.line(e);
        if (line === null) return;
        if (isConnectionFailure(e)) this.logger.warn(`worker ${worker.name}: ${line}`);
        else this.logger.error({ err: e }, `worker ${worker.name}: ${line}`);
      });
      worker.on('failed', (job, e) =>
        this.logger.warn(
          `job ${job?.name ?? '?'} ${job?.id ?? '?'} failed (attempt ${job?.attemptsMade ?? '?'}): ${e.message}`,
        ),
      );
      this.workers.push(worker);
    }
    // A scanner started while Redis is down starts all the same: its workers wait for Redis, and the check
    // below makes the schedulers once Redis answers.
    await this.schedule().catch((e: unknown) =>
      this.logger.warn(
        `job schedulers not set (${e instanceof Error ? e.message : String(e)}): tried again every ${SCHEDULES_CHECK_EVERY_MS / 1000} s`,
      ),
    );
    // The schedulers live in Redis: one restarted without its data (no persistence, a failover to an empty
    // replica) has lost them, and with them the outbox re-drive and the sweeps. Put them back when missing.
    this.schedulesTimer = setInterval(() => void this.checkSchedules(), SCHEDULES_CHECK_EVERY_MS);
    this.logger.log(
      `workers started: scan (concurrency ${this.config.scanner.concurrency}, ${this.config.scanner.jobsInFlight} jobs in flight), retrohunt (concurrency ${this.config.scanner.retrohuntConcurrency}), maintenance, sightings`,
    );
  }

  /** Re-creates the job schedulers when Redis no longer has them; quiet while Redis does not answer. */
  private checkSchedules(): Promise<void> {
    this.checkingSchedules ??= (async () => {
      try {
        // The last one schedule() makes: present, all are (a start during an outage may have made none).
        const present = await this.producer.hasJobScheduler(QueueName.Maintenance, 'retrohunt-rules-sweep');
        // Redis answered: an outage the workers reported is over (their next failure is said at once).
        if (this.throttles.some((t) => t.failing)) {
          this.logger.log('Redis reachable again');
          for (const t of this.throttles) t.recovered();
        }
        if (present) return;
        this.logger.warn(
          'job schedulers missing from Redis (restarted without its data, or down at start): creating them',
        );
        await this.schedule();
      } catch {
        // Redis unreachable: the workers log that; the next check tries again.
      }
    })().finally(() => {
      this.checkingSchedules = null;
    });
    return this.checkingSchedules;
  }

  /** Job schedulers (not timers) so that one of each runs at a time across every scanner replica. */
  private async schedule(): Promise<void> {
    const { retentionSweepMs, rollupMs } = this.config.stewardship;
    // Through the producer: while Redis does not answer each call fails within its deadline, where a Queue
    // of its own waited for ever (and kept a scanner started during an outage from starting).
    // The roll-up and the consent and retrohunt-rules sweeps share a period: all are cheap when there is
    // nothing to do. The last one is what checkSchedules looks for.
    const schedules: Array<[id: string, every: number, name: JobName, data: Record<string, unknown>]> = [
      ['outbox-redrive', REDRIVE_EVERY_MS, JobName.OutboxRedrive, { olderThanMs: REDRIVE_OLDER_THAN_MS }],
      ['retention-sweep', retentionSweepMs, JobName.RetentionSweep, {}],
      ['stats-rollup', rollupMs, JobName.StatsRollup, {}],
      ['consent-sweep', rollupMs, JobName.ConsentSweep, {}],
      ['retrohunt-rules-sweep', rollupMs, JobName.RetrohuntRulesSweep, {}],
    ];
    for (const [id, every, name, data] of schedules) {
      await this.producer.upsertJobScheduler(
        QueueName.Maintenance,
        id,
        { every },
        { name, data, opts: SCHEDULED_JOB_OPTIONS },
      );
    }
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.schedulesTimer);
    let closed = false;
    const closing = Promise.all(this.workers.map((w) => w.close())).then(() => {
      closed = true;
    });
    // BullMQ's close waits for each worker's blocking connection to end, which a connection reconnecting to
    // a Redis that is down never does (not even once Redis is back): the process would never exit. While
    // Redis does not answer, stop waiting; the jobs in hand stay active in Redis and come back as stalled.
    await Promise.race([closing, this.untilRedisUnreachable(() => closed)]);
    this.workers.length = 0;
  }

  private async untilRedisUnreachable(closed: () => boolean): Promise<void> {
    while (!closed()) {
      try {
        await this.producer.ping();
      } catch {
        if (!closed()) this.logger.warn('Redis unreachable: the workers stop without waiting for it');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, SHUTDOWN_REDIS_CHECK_MS).unref());
    }
  }
}
