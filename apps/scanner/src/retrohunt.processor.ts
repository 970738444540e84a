import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Job } from 'bullmq';
import { CONFIG, type Config, retentionCutoff } from '#config';
import {
  RETROHUNT_NAMESPACE,
  SCAN_COMPILE_OPTIONS,
  type SCAN_EXTERNALS,
  type RetrohuntBatchJob,
} from '#contracts';
import {
  RetrohuntsRepository,
  type BatchSample,
  type RetrohuntMatchRecord,
  type RetrohuntSummaryRecord,
  type RetrohuntTotals,
} from '#database';
import { QueueProducer, UnrecoverableError, retrohuntBatchJob } from '#queue';
import {
  OBJECT_STORE,
  type ObjectStore,
  deletePrefix,
  retrohuntRulesKey,
  retrohuntRulesPrefix,
} from '#storage';
import {
  type CompileResult,
  YaraError,
  type YaraRules,
  compileRulesAsync,
  compileTag,
  loadRules,
} from '#yara';
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

/** A sample's matches and whether its scan timed out; null when it could not be scanned (skipped). */
type Found = { matches: RetrohuntMatchRecord[]; timedOut: boolean } | null;

/** What a batch's scans found: matches, bytes read and scans timed out. */
interface BatchOutcome {
  matches: RetrohuntMatchRecord[];
  bytes: number;
  timedOut: number;
}

/**
 * What a batch leaves for the next one of the same retrohunt in this process: the next batch's samples
 * (read while this batch scanned) and the scans of those samples started by this batch's lanes once their
 * share of it was done (a head start, so that no thread idles through this batch's tail, its record, and
 * the next job's start). The next batch adopts them when its cursor is `after`; otherwise (another replica
 * ran it, or the retrohunt stopped) they are dropped. Head starts stop once the lookahead is `settled`
 * (adopted or dropped): the next batch's own lanes go on from there.
 */
interface Lookahead {
  after: string;
  samples: Promise<BatchSample[]>;
  started: Map<string, Promise<Found>>;
  settled: boolean;
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
  private readonly lookaheads = new Map<string, Lookahead>();
  /** Removals of compiled rules the API left in storage, once loaded (a retrohunt is done after them). */
  private readonly handedOver = new Map<string, Promise<void>>();
  private readonly rulesTag = compileTag([RETROHUNT_NAMESPACE], SCAN_COMPILE_OPTIONS);

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
        await this.removeAll(data.retrohuntId);
        this.drop(data.retrohuntId);
      }
      throw e;
    }
  }

  private async batch(data: RetrohuntBatchJob): Promise<{ scanned: number; finished: boolean }> {
    // Without its source: that is read only when there are no compiled rules to load.
    const hunt = await this.retrohunts.findSummary(data.retrohuntId);
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
    const batchSize = this.config.scanner.retrohuntBatchSize;
    const ahead = this.lookaheads.get(hunt.id);
    this.lookaheads.delete(hunt.id);
    if (ahead !== undefined) ahead.settled = true;
    const adopted = ahead !== undefined && from !== null && ahead.after === from ? ahead : undefined;
    // The previous batch read this list already (a failed read is simply done again). The list is read
    // beside the status change: one database round trip less before the first scan.
    const list = async (): Promise<BatchSample[]> =>
      (adopted === undefined ? null : await adopted.samples.catch(() => null)) ??
      (await this.retrohunts.samplesAfter({
        after: from,
        until: hunt.createdAt,
        seenSince: retentionCutoff(this.config),
        limit: batchSize,
      }));
    const [started, samples] = await Promise.all([this.retrohunts.start(hunt.id), list()]);
    if (!started) return { scanned: 0, finished: true };
    const last = samples.at(-1);
    if (last === undefined) {
      // Nothing (left) to scan; complete() also removes the rules the API stored if they were never loaded.
      await this.complete(hunt.id);
      return { scanned: 0, finished: true };
    }
    const rules = await this.acquire(hunt);
    let outcome: BatchOutcome | null;
    try {
      // The next batch's samples are read while this one scans (a full batch has a next one, maybe empty).
      const next =
        samples.length < batchSize
          ? undefined
          : {
              after: last.sha256,
              samples: this.retrohunts.samplesAfter({
                after: last.sha256,
                until: hunt.createdAt,
                seenSince: retentionCutoff(this.config),
                limit: batchSize,
              }),
              started: new Map<string, Promise<Found>>(),
              settled: false,
            };
      next?.samples.catch(() => undefined);
      outcome = await this.scanAll(
        hunt.id,
        rules,
        samples,
        adopted?.started ?? new Map<string, Promise<Found>>(),
        next,
      );
      if (outcome === null || next === undefined) {
        if (next !== undefined) next.settled = true;
      } else {
        this.lookaheads.set(hunt.id, next);
        // One per retrohunt running here; those whose next batch ran elsewhere go, oldest first.
        for (const [key, old] of this.lookaheads) {
          if (this.lookaheads.size <= MAX_CACHED) break;
          old.settled = true;
          this.lookaheads.delete(key);
        }
      }
    } finally {
      this.release(hunt.id, rules);
    }
    if (outcome === null) {
      this.drop(hunt.id);
      return { scanned: 0, finished: true };
    }
    // A short batch is the last one: it is recorded and the retrohunt ends as done in one transaction.
    const final = samples.length < batchSize;
    // Done means nothing of the rules hand-over is left in storage (its removal is long over by now).
    if (final) await this.handedOver.get(hunt.id);
    const totals = await this.retrohunts.recordBatch(hunt.id, {
      from,
      to: last.sha256,
      scanned: samples.length,
      timedOut: outcome.timedOut,
      bytes: outcome.bytes,
      matches: outcome.matches,
      last: final,
    });
    if (totals === null) return { scanned: 0, finished: true };
    if (final) {
      this.logDone(hunt.id, totals);
      await this.removeAll(hunt.id);
      this.drop(hunt.id);
      return { scanned: samples.length, finished: true };
    }
    await this.enqueue(hunt.id, last.sha256);
    return { scanned: samples.length, finished: false };
  }

  /**
   * Scans the batch with up to RETROHUNT_CONCURRENCY scans at once, largest samples first; scans the
   * previous batch started early (`started`) are awaited instead of run again. Once every sample of the
   * batch is under way, free lanes start the next batch's scans (`next`), largest first, until the next
   * batch takes over. Whether the retrohunt was cancelled is checked every CANCEL_CHECK_EVERY samples without
   * holding a lane up. Null when the retrohunt stopped meanwhile (cancelled): nothing of the batch is
   * recorded then.
   */
  private async scanAll(
    id: string,
    cached: CachedRules,
    samples: BatchSample[],
    started: Map<string, Promise<Found>>,
    next?: Lookahead,
  ): Promise<BatchOutcome | null> {
    const matches: RetrohuntMatchRecord[] = [];
    let bytes = 0;
    let timedOut = 0;
    let index = 0;
    let stopped = false;
    /** The status check in flight, if any (it never rejects: a failure is kept in `error`). */
    const check: { pending: Promise<void> | null; error: Error | null } = { pending: null, error: null };
    const startCheck = (): void => {
      check.pending ??= this.retrohunts.status(id).then(
        (status) => {
          check.pending = null;
          if (status !== 'running') stopped = true;
        },
        (e: unknown) => {
          check.pending = null;
          check.error ??= e instanceof Error ? e : new Error(String(e));
          stopped = true;
        },
      );
    };
    // Largest first: the batch ends when its last scan does, and a big file started last would leave the
    // other lanes idle meanwhile. Sizes are known up front, so the tail is one of the smallest files.
    const bySize = [...samples].sort((a, b) => b.size - a.size);
    const lane = async (): Promise<void> => {
      while (!stopped && index < bySize.length) {
        const i = index++;
        const sample = bySize[i];
        if (sample === undefined) return;
        if (i > 0 && i % CANCEL_CHECK_EVERY === 0) startCheck();
        const found = await (started.get(sample.sha256) ?? this.scanOne(cached.rules, sample));
        if (found === null) continue;
        bytes += sample.size;
        if (found.timedOut) timedOut++;
        matches.push(...found.matches);
      }
      // This lane's share is done: it starts the next batch's scans while the other lanes finish theirs.
      if (next !== undefined && !stopped)
        void this.headStart(id, cached, next, () => stopped || next.settled);
    };
    const lanes = Math.max(1, Math.min(this.config.scanner.retrohuntConcurrency, samples.length));
    await Promise.all(Array.from({ length: lanes }, lane));
    // A check still in flight decides too: a batch that ends as its retrohunt is cancelled is not recorded.
    await check.pending;
    if (check.error !== null) throw check.error;
    return stopped ? null : { matches, bytes, timedOut };
  }

  /**
   * Starts the next batch's scans, largest first, one at a time on this lane, until `enough()`; each
   * scan is left in `next.started` for the next batch to adopt (its failure is that batch's to report).
   */
  private async headStart(
    id: string,
    cached: CachedRules,
    next: Lookahead,
    enough: () => boolean,
  ): Promise<void> {
    const list = await next.samples.catch(() => null);
    if (list === null) return;
    const bySize = [...list].sort((a, b) => b.size - a.size);
    for (const sample of bySize) {
      if (enough()) return;
      if (next.started.has(sample.sha256)) continue;
      cached.users += 1;
      const scan = this.scanOne(cached.rules, sample).finally(() => this.release(id, cached));
      next.started.set(sample.sha256, scan);
      await scan.catch(() => undefined);
    }
  }

  /**
   * The sample's matches; null when its object is gone or libyara cannot scan it (it counts as scanned,
   * with no bytes): one unreadable sample must not fail the whole hunt. Other errors (storage unreachable)
   * fail the batch, which is retried.
   */
  private async scanOne(rules: YaraRules, sample: BatchSample): Promise<Found> {
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
        return {
          timedOut: result.timedOut,
          matches: result.matches.map((m) => ({
            sampleSha256: sample.sha256,
            rule: m.rule,
            namespace: m.namespace,
            tags: m.tags,
            meta: m.meta,
            strings: m.strings,
          })),
        };
      });
    } catch (e) {
      if (e instanceof MissingObjectError || e instanceof YaraError) {
        this.logger.warn(`retrohunt skips ${sample.sha256}: ${e.message}`);
        return null;
      }
      throw e;
    }
  }

  /** A sample never scanned yet has no stored file type: detect it as the scan job would. */
  private async detect(path: string): Promise<string> {
    // A file that cannot be opened is libyara's to report, as a sample it cannot scan.
    const source = await openFileSource(path).catch(() => null);
    if (source === null) return 'unknown';
    try {
      return (await detectFileType(source)).type;
    } catch {
      return 'unknown';
    } finally {
      await source.close();
    }
  }

  private async enqueue(id: string, after: string | null): Promise<void> {
    const { item, jobId } = retrohuntBatchJob(id, after);
    await this.queue.add(item, jobId);
  }

  /** Ends the retrohunt as done when a batch finds no samples left (the previous batch was a full one). */
  private async complete(id: string): Promise<void> {
    await this.handedOver.get(id);
    const finished = await this.retrohunts.finish(id, 'done');
    if (finished !== null) this.logDone(id, finished);
    await this.removeAll(id);
    this.drop(id);
  }

  private logDone(id: string, totals: RetrohuntTotals): void {
    this.logger.log(
      `retrohunt ${id} done: ${totals.scanned} samples, ${totals.bytes} bytes, ${totals.matchCount} matches`,
    );
  }

  /**
   * The retrohunt's compiled rules, compiled once per process (same externals as every scan), on the
   * thread pool so that the event loop keeps turning meanwhile.
   */
  private async acquire(hunt: RetrohuntSummaryRecord): Promise<CachedRules> {
    let cached = this.cache.get(hunt.id);
    if (cached === undefined) {
      const rules = (await this.stored(hunt.id)) ?? (await this.compile(hunt)).rules;
      // Another batch of the same retrohunt (a replay) may have compiled it meanwhile: keep one.
      const raced = this.cache.get(hunt.id);
      if (raced !== undefined) {
        rules?.destroy();
        raced.users += 1;
        return raced;
      }
      if (rules === null) throw new UnrecoverableError('no rule of the retrohunt compiles');
      cached = { rules, users: 0, finished: false };
      this.cache.set(hunt.id, cached);
      this.evict();
    }
    cached.users += 1;
    return cached;
  }

  private async compile(hunt: RetrohuntSummaryRecord): Promise<CompileResult> {
    const source = await this.retrohunts.source(hunt.id);
    if (source === null) throw new UnrecoverableError(`retrohunt ${hunt.id} does not exist`);
    return compileRulesAsync(
      [{ source, namespace: RETROHUNT_NAMESPACE, fileName: `${RETROHUNT_NAMESPACE}.yar` }],
      SCAN_COMPILE_OPTIONS,
    );
  }

  /**
   * The rules the API compiled when the retrohunt was created and left in storage, loaded instead of
   * compiling the text again (milliseconds instead of up to seconds). Null when they are not there (another
   * process took them, or a libyara or option change makes the tag differ) or do not load: then compiled.
   * The first process to load them removes them: they are a hand-over, not a cache.
   */
  private async stored(id: string): Promise<YaraRules | null> {
    const key = retrohuntRulesKey(id, this.rulesTag);
    let rules: YaraRules;
    try {
      rules = await withLocalFile(this.store, key, (path) => Promise.resolve(loadRules(path)));
    } catch (e) {
      if (!(e instanceof MissingObjectError)) {
        this.logger.warn({ err: e }, `retrohunt ${id}: stored rules do not load; compiling`);
        // Nobody can use them: gone now, not left behind.
        await this.removeStored(id);
      }
      return null;
    }
    this.handedOver.set(id, this.removeStored(id));
    return rules;
  }

  private async removeStored(id: string): Promise<void> {
    await this.store
      .delete(retrohuntRulesKey(id, this.rulesTag))
      .catch((e: unknown) => this.logger.warn({ err: e }, `could not remove retrohunt ${id}'s stored rules`));
  }

  /**
   * Once the retrohunt has ended (done or failed; the API removes them on a cancel): its stored rules under
   * every tag, not only this scanner's, since an API whose libyara or options differ names them otherwise,
   * and rules whose store outlasted the start (the re-drive queued the first batch first) were never loaded.
   * After the end is committed, so that anything stored before it is seen here; anything later, by the
   * retrohunt-rules sweep. A failure is only logged: the sweep removes them then.
   */
  private async removeAll(id: string): Promise<void> {
    try {
      const removed = await deletePrefix(this.store, retrohuntRulesPrefix(id));
      if (removed.length > 0) this.logger.log(`retrohunt ${id}: removed stored rules ${removed.join(', ')}`);
    } catch (e) {
      this.logger.warn({ err: e }, `could not remove retrohunt ${id}'s stored rules`);
    }
  }

  /** One use of the rules ends; rules of a finished retrohunt go with their last use. */
  private release(id: string, cached: CachedRules): void {
    cached.users -= 1;
    if (cached.finished && cached.users === 0 && this.cache.get(id) === cached) {
      cached.rules.destroy();
      this.cache.delete(id);
    }
  }

  /** Forgets a finished retrohunt's rules; they are destroyed once no scan uses them. */
  private drop(id: string): void {
    this.handedOver.delete(id);
    const ahead = this.lookaheads.get(id);
    if (ahead !== undefined) ahead.settled = true;
    this.lookaheads.delete(id);
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
    for (const ahead of this.lookaheads.values()) ahead.settled = true;
    this.lookaheads.clear();
  }
}
