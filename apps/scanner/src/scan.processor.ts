import { readFileSync } from 'node:fs';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import { CONFIG, type Config } from '#config';
import { SCAN_EXTERNALS, type AnalysisResult, type ScanSampleJob } from '#contracts';
import {
  Batcher,
  SamplesRepository,
  ScansRepository,
  type MatchRecord,
  type RecordScanInput,
  type ScanTarget,
} from '#database';
import { SpecimenMetrics } from '#observability';
import { UnrecoverableError } from '#queue';
import { OBJECT_STORE, type ObjectStore } from '#storage';
import type { ScanResult, YaraRules } from '#yara';
import { analyze, bufferSource, detectFileType, openFileSource } from './analyzers/analyze.js';
import { Slots } from './slots.js';
import { withLocalFile } from './local-file.js';
import { RulesService } from './rules.service.js';
import { applyRuleStates, computeVerdict } from './verdict.js';

/**
 * Samples up to this size are read whole with one synchronous read (from the page cache: microseconds) for
 * the analyzers and the YARA scan, instead of an open, a stat, reads and a close, each a thread-pool round
 * trip that would queue behind the YARA scans sharing the pool, and another open and mmap for the scan.
 */
const READ_WHOLE_BYTES = 64 * 1024;

/** Most scans one database transaction records, and most sample rows one query reads. */
const MAX_BATCH = 100;

/**
 * How long an idle recorder or reader waits for company. Jobs arrive and finish one at a time (BullMQ hands
 * over the next job as the last one completes), so without a wait most writes would carry one or two scans,
 * each paying a transaction and its commit, and most reads one row. A quarter of the jobs in flight ends
 * the wait at once: at high rates that many come within a millisecond or two, and the jobs held must still
 * cover read, scan and record with the scan threads never idle.
 */
const RECORD_LINGER_MS = 4;
const READ_LINGER_MS = 2;

@Injectable()
export class ScanProcessor {
  private readonly logger = new Logger(ScanProcessor.name);
  /** Scans finished while a write is in flight are recorded together by the next one. */
  private readonly recorder: Batcher<RecordScanInput, string>;
  /** Sample rows asked for while a read is in flight are read together by the next one. */
  private readonly sampleRows: Batcher<string, ScanTarget | null>;
  /**
   * Samples read and scanned at once, of the SCAN_JOBS_IN_FLIGHT jobs held: SCAN_CONCURRENCY scanning and
   * SCAN_PREFETCH more whose scans wait in the thread pool's queue for the next free thread.
   */
  private readonly scanning: Slots;
  /**
   * Of those, the samples not read whole (above READ_WHOLE_BYTES): SCAN_CONCURRENCY at most. Only samples
   * in memory wait in the pool's queue: a larger one's analyzers read the file through the same pool (and
   * over S3 its object is first copied to a temporary file), and queued behind other scans they ran out of
   * their deadline while long scans held every thread.
   */
  private readonly fileScans: Slots;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(SamplesRepository) private readonly samples: SamplesRepository,
    @Inject(ScansRepository) private readonly scans: ScansRepository,
    @Inject(RulesService) private readonly rules: RulesService,
    @Inject(SpecimenMetrics) private readonly metrics: SpecimenMetrics,
  ) {
    this.scanning = new Slots(config.scanner.concurrency + config.scanner.prefetch);
    this.fileScans = new Slots(config.scanner.concurrency);
    const enough = Math.max(1, Math.floor(config.scanner.jobsInFlight / 4));
    this.recorder = new Batcher((inputs) => this.scans.recordMany(inputs), MAX_BATCH, {
      ms: RECORD_LINGER_MS,
      items: enough,
    });
    this.sampleRows = new Batcher((sha256s) => this.samples.scanTargets(sha256s), MAX_BATCH, {
      ms: READ_LINGER_MS,
      items: enough,
    });
  }

  /**
   * Scans one sample with the active ruleset and records scan, matches and verdict in one transaction.
   * The scan keeps the ruleset it started with even if another version becomes active meanwhile.
   * Throws on failure so BullMQ retries with backoff; on the last attempt the failure is recorded too.
   */
  async handle(
    data: ScanSampleJob,
    job: Job,
  ): Promise<{ verdict: string | null; matches: number; rulesetId: string; rulesetVersion: number }> {
    const startedAt = new Date();
    const lease = await this.rules.acquire(data.rulesAsOf);
    const { ruleset } = lease;
    try {
      const sample = await this.sampleRows.submit(data.sha256);
      if (sample === null) throw new UnrecoverableError(`sample ${data.sha256} is not in the database`);
      const scan = () =>
        this.scanning.run(() =>
          withLocalFile(this.store, sample.objectKey, (path) =>
            this.scanAndAnalyze(sample, path, ruleset.rules),
          ),
        );
      // A large sample takes a file slot first, then a slot of all: the order is the same for every job.
      const { result, analysis } = await (sample.size <= READ_WHOLE_BYTES
        ? scan()
        : this.fileScans.run(scan));
      const matches: MatchRecord[] = applyRuleStates(
        result.matches.map((m) => ({
          rule: m.rule,
          namespace: m.namespace,
          tags: m.tags,
          meta: m.meta,
          strings: m.strings,
        })),
        ruleset.states,
      );
      // libyara reports no rule at all when a scan times out (matches are only reported once every
      // condition has run), so a timed-out scan has no verdict: "clean" would tell agents a sample nobody
      // finished scanning is harmless.
      const verdict = result.timedOut ? null : computeVerdict(matches, this.config.scanner);
      await this.recorder.submit({
        sha256: sample.sha256,
        rulesetId: ruleset.id,
        status: result.timedOut ? 'timeout' : 'scanned',
        verdict,
        startedAt,
        durationMs: result.durationMs,
        finishedAt: new Date(),
        matches,
        analysis,
      });
      this.metrics.scanDuration.observe(
        { status: result.timedOut ? 'timeout' : 'scanned' },
        result.durationMs / 1000,
      );
      if (verdict !== null) this.metrics.verdicts.inc({ verdict });
      if (result.timedOut) this.logger.warn(`scan of ${sample.sha256} timed out: no verdict`);
      return { verdict, matches: matches.length, rulesetId: ruleset.id, rulesetVersion: ruleset.version };
    } catch (e) {
      const final = e instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (final) {
        this.metrics.scanDuration.observe({ status: 'failed' }, (Date.now() - startedAt.getTime()) / 1000);
        const reason = e instanceof Error ? e.message : String(e);
        await this.scans
          .recordFailure({ sha256: data.sha256, rulesetId: ruleset.id, startedAt, error: reason })
          .catch((recordError: unknown) =>
            this.logger.error({ err: recordError }, 'could not record a failed scan'),
          );
      }
      throw e;
    } finally {
      lease.release();
    }
  }

  /**
   * The file type first (a YARA external, from the first 64 KiB), then the YARA scan and the other
   * analyzers side by side: both only read the file.
   */
  private async scanAndAnalyze(
    sample: ScanTarget,
    path: string,
    rules: YaraRules,
  ): Promise<{ result: ScanResult; analysis: AnalysisResult }> {
    const metadata = sample.kind === 'file' ? {} : ((await this.samples.latestMetadata(sample.sha256)) ?? {});
    const bytes = sample.size <= READ_WHOLE_BYTES ? readFileSync(path) : null;
    const source =
      bytes !== null
        ? { ...bufferSource(bytes), close: () => Promise.resolve() }
        : await openFileSource(path);
    try {
      const fileType = await detectFileType(source).catch((e: unknown) => {
        this.logger.error({ err: e }, `file type detection failed on ${sample.sha256}`);
        return { type: 'unknown' as const, format: 'unknown' };
      });
      const externals: typeof SCAN_EXTERNALS = {
        kind: sample.kind,
        file_type: fileType.type,
        size: sample.size,
      };
      const [result, analysis] = await Promise.all([
        // Bytes read whole are scanned as they are: no second open and mmap of the file on the thread.
        bytes !== null
          ? rules.scanBuffer(bytes, { timeoutMs: this.config.scanner.timeoutMs, externals })
          : rules.scanFile(path, { timeoutMs: this.config.scanner.timeoutMs, externals }),
        analyze(sample.kind, source, metadata, { fileType }),
      ]);
      if (analysis.errors !== undefined) {
        this.logger.error(`analyzers failed on ${sample.sha256}: ${JSON.stringify(analysis.errors)}`);
      }
      return { result, analysis };
    } finally {
      await source.close();
    }
  }
}
