import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Job } from 'bullmq';
import { CONFIG, type Config } from '#config';
import { JobName, QueueName, SCAN_EXTERNALS, type RetrohuntBatchJob } from '#contracts';
import {
  RetrohuntsRepository,
  type BatchSample,
  type RetrohuntMatchRecord,
  type RetrohuntRecord,
} from '#database';
import { QueueProducer, UnrecoverableError, retrohuntJobId } from '#queue';
import { OBJECT_STORE, type ObjectStore } from '#storage';
import { type CompileResult, type YaraRules, compileRulesAsync } from '#yara';
import { detectFileType, openFileSource } from './analyzers/analyze.js';
import { MissingObjectError, withLocalFile } from './local-file.js';

/** How many samples a batch scans between two looks at whether its retrohunt was cancelled. */
const CANCEL_CHECK_EVERY = 10;
/** Compiled retrohunt rules kept per process; one per running retrohunt is the usual need. */
const MAX_CACHED = 4;

interface CachedRules {
  rules: YaraRules;
  users: number;
  finished: boolean;
}

/**
 * Runs one batch of a retrohunt: the next samples in sha256 order, scanned with the retrohunt's own rules,
 * then progress and matches in one transaction and the next batch queued. Verdicts are never touched.
 * Batches of one retrohunt run one after the other, so a retrohunt holds at most one retrohunt worker slot
 * and ingest scans (their own queue and workers) keep flowing.
 */
@Injectable()
export class RetrohuntProcessor implements OnApplicationShutdown {
  private readonly logger = new Logger(RetrohuntProcessor.name);
  private readonly cache = new Map<string, CachedRules>();

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(RetrohuntsRepository) private readonly retrohunts: RetrohuntsRepository,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
  ) {}

  async handle(data: RetrohuntBatchJob, job: Job): Promise<{ scanned: number; finished: boolean }> {
    try {
      return await this.batch(data);
    } catch (e) {
      const final = e instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (final) {
        const reason = e instanceof Error ? e.message : String(e);
        await this.retrohunts
          .finish(data.retrohuntId, 'failed', reason.slice(0, 2000))
          .catch((recordError: unknown) =>
            this.logger.error({ err: recordError }, 'could not record a failed retrohunt'),
          );
        this.drop(data.retrohuntId);
      }
      throw e;
    }
  }

  private async batch(data: RetrohuntBatchJob): Promise<{ scanned: number; finished: boolean }> {
    const hunt = await this.retrohunts.find(data.retrohuntId);
    if (hunt === null) throw new UnrecoverableError(`retrohunt ${data.retrohuntId} does not exist`);
    if (hunt.status !== 'queued' && hunt.status !== 'running') {
      this.drop(hunt.id);
      return { scanned: 0, finished: true };
    }
    const from = data.after ?? null;
    if (hunt.cursor !== from) {
      // A replay of a batch already recorded (its next job may have been lost): continue from the cursor.
      await this.enqueue(hunt.id, hunt.cursor);
      return { scanned: 0, finished: false };
    }
    if (!(await this.retrohunts.start(hunt.id))) return { scanned: 0, finished: true };
    const batchSize = this.config.scanner.retrohuntBatchSize;
    const samples = await this.retrohunts.samplesAfter({
      after: from,
      until: hunt.createdAt,
      limit: batchSize,
    });
    const last = samples.at(-1);
    if (last === undefined) {
      await this.complete(hunt.id);
      return { scanned: 0, finished: true };
    }
    const rules = await this.acquire(hunt);
    let outcome: { matches: RetrohuntMatchRecord[]; bytes: number } | null;
    try {
      outcome = await this.scanAll(hunt.id, rules.rules, samples);
    } finally {
      rules.users -= 1;
    }
    if (outcome === null) {
      this.drop(hunt.id);
      return { scanned: 0, finished: true };
    }
    const recorded = await this.retrohunts.recordBatch(hunt.id, {
      from,
      to: last.sha256,
      scanned: samples.length,
      bytes: outcome.bytes,
      matches: outcome.matches,
    });
    if (!recorded) return { scanned: 0, finished: true };
    if (samples.length < batchSize) {
      await this.complete(hunt.id);
      return { scanned: samples.length, finished: true };
    }
    await this.enqueue(hunt.id, last.sha256);
    return { scanned: samples.length, finished: false };
  }

  /**
   * Scans the batch with up to RETROHUNT_CONCURRENCY scans at once. Null when the retrohunt stopped
   * meanwhile (cancelled): nothing of the batch is recorded then.
   */
  private async scanAll(
    id: string,
    rules: YaraRules,
    samples: BatchSample[],
  ): Promise<{ matches: RetrohuntMatchRecord[]; bytes: number } | null> {
    const matches: RetrohuntMatchRecord[] = [];
    let bytes = 0;
    let next = 0;
    let stopped = false;
    // Largest first: the batch ends when its last scan does, and a big file started last would leave the
    // other lanes idle meanwhile. Sizes are known up front, so the tail is one of the smallest files.
    const bySize = [...samples].sort((a, b) => b.size - a.size);
    const lane = async (): Promise<void> => {
      while (!stopped && next < bySize.length) {
        const index = next++;
        const sample = bySize[index];
        if (sample === undefined) return;
        if (index > 0 && index % CANCEL_CHECK_EVERY === 0) {
          const status = await this.retrohunts.status(id);
          if (status !== 'running') {
            stopped = true;
            return;
          }
        }
        const found = await this.scanOne(rules, sample);
        if (found === null) continue;
        bytes += sample.size;
        matches.push(...found);
      }
    };
    const lanes = Math.max(1, Math.min(this.config.scanner.retrohuntConcurrency, samples.length));
    await Promise.all(Array.from({ length: lanes }, lane));
    return stopped ? null : { matches, bytes };
  }

  /** The sample's matches; null when its object is gone (it counts as scanned, with no bytes). */
  private async scanOne(rules: YaraRules, sample: BatchSample): Promise<RetrohuntMatchRecord[] | null> {
    try {
      return await withLocalFile(this.store, sample.objectKey, async (path) => {
        const fileType = sample.fileType ?? (await this.detect(path));
        const externals: typeof SCAN_EXTERNALS = {
          kind: sample.kind,
          file_type: fileType,
          size: sample.size,
        };
        const result = await rules.scanFile(path, { timeoutMs: this.config.scanner.timeoutMs, externals });
        if (result.timedOut) this.logger.warn(`retrohunt scan of ${sample.sha256} timed out`);
        return result.matches.map((m) => ({
          sampleSha256: sample.sha256,
          rule: m.rule,
          namespace: m.namespace,
          tags: m.tags,
          meta: m.meta,
          strings: m.strings,
        }));
      });
    } catch (e) {
      if (e instanceof MissingObjectError) {
        this.logger.warn(`retrohunt skips ${sample.sha256}: ${e.message}`);
        return null;
      }
      throw e;
    }
  }

  /** A sample never scanned yet has no stored file type: detect it as the scan job would. */
  private async detect(path: string): Promise<string> {
    const source = await openFileSource(path);
    try {
      return (await detectFileType(source)).type;
    } catch {
      return 'unknown';
    } finally {
      await source.close();
    }
  }

  private async enqueue(id: string, after: string | null): Promise<void> {
    await this.queue.add(
      {
        queue: QueueName.Retrohunt,
        name: JobName.RetrohuntBatch,
        data: after === null ? { retrohuntId: id } : { retrohuntId: id, after },
      },
      retrohuntJobId(id, after),
    );
  }

  private async complete(id: string): Promise<void> {
    const finished = await this.retrohunts.finish(id, 'done');
    if (finished !== null) {
      this.logger.log(
        `retrohunt ${id} done: ${finished.scanned} samples, ${finished.bytes} bytes, ${finished.matchCount} matches`,
      );
    }
    this.drop(id);
  }

  /**
   * The retrohunt's compiled rules, compiled once per process (same externals as every scan), on the
   * thread pool so that the event loop keeps turning meanwhile.
   */
  private async acquire(hunt: RetrohuntRecord): Promise<CachedRules> {
    let cached = this.cache.get(hunt.id);
    if (cached === undefined) {
      const compiled = await this.compile(hunt);
      // Another batch of the same retrohunt (a replay) may have compiled it meanwhile: keep one.
      const raced = this.cache.get(hunt.id);
      if (raced !== undefined) {
        compiled.rules?.destroy();
        raced.users += 1;
        return raced;
      }
      if (compiled.rules === null) throw new UnrecoverableError('no rule of the retrohunt compiles');
      cached = { rules: compiled.rules, users: 0, finished: false };
      this.cache.set(hunt.id, cached);
      this.evict();
    }
    cached.users += 1;
    return cached;
  }

  private compile(hunt: RetrohuntRecord): Promise<CompileResult> {
    return compileRulesAsync([{ source: hunt.source, namespace: 'retrohunt', fileName: 'retrohunt.yar' }], {
      externals: SCAN_EXTERNALS,
    });
  }

  /** Forgets a finished retrohunt's rules; they are destroyed once no scan uses them. */
  private drop(id: string): void {
    const cached = this.cache.get(id);
    if (cached === undefined) return;
    cached.finished = true;
    if (cached.users === 0) {
      cached.rules.destroy();
      this.cache.delete(id);
    }
  }

  /** Keeps at most MAX_CACHED compiled retrohunts (another replica may have finished the others). */
  private evict(): void {
    for (const [id, cached] of this.cache) {
      if (this.cache.size <= MAX_CACHED) return;
      if (cached.users === 0) {
        cached.rules.destroy();
        this.cache.delete(id);
      }
    }
  }

  onApplicationShutdown(): void {
    for (const cached of this.cache.values()) if (cached.users === 0) cached.rules.destroy();
    this.cache.clear();
  }
}
