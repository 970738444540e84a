import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config, retentionCutoff } from '#config';
import {
  JobName,
  LookupItem,
  LookupRequest,
  QueueName,
  SampleKind,
  type LookupResponse,
  type LookupResult,
  type Principal,
} from '#contracts';
import { type LookupSample, type SightingBatch, SubmissionsRepository } from '#database';
import { QueueProducer } from '#queue';
import { OBJECT_STORE, type ObjectStore } from '#storage';
import { submitterOf } from '../auth/auth.js';
import { parseOrThrow } from '../http/validation.js';

const SHA256 = /^[0-9A-Fa-f]{64}$/;
const KINDS: ReadonlySet<unknown> = new Set(SampleKind.options);

/**
 * The common well-formed item, accepted without zod: a plain object with only `sha256` (64 hex digits),
 * `size` (a non-negative safe integer) and `kind` (a sample kind). Anything else, null, goes to `LookupItem`
 * for its verdict and its error message, so this only ever accepts what the schema accepts. Per item, the
 * schema's parse allocates enough to matter in a batch of 1,000 on an API with a small young generation.
 */
export function wellFormed(raw: unknown): string | null {
  if (typeof raw !== 'object' || raw === null || Object.getPrototypeOf(raw) !== Object.prototype) return null;
  const item = raw as Record<string, unknown>;
  for (const key of Object.keys(item)) {
    if (key !== 'sha256' && key !== 'size' && key !== 'kind') return null;
  }
  const { sha256, size, kind } = item;
  if (typeof sha256 !== 'string' || !SHA256.test(sha256)) return null;
  if (size !== undefined && !(Number.isSafeInteger(size) && (size as number) >= 0)) return null;
  if (kind !== undefined && !KINDS.has(kind)) return null;
  return sha256.toLowerCase();
}

/** Object checks at once per batch: enough to hide S3 latency without flooding the store. */
const STAT_CONCURRENCY = 32;

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

@Injectable()
export class LookupsService {
  private readonly logger = new Logger(LookupsService.name);

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(SubmissionsRepository) private readonly submissions: SubmissionsRepository,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
  ) {}

  /**
   * Answers each item in order: known or not, whether the bytes are wanted, and the verdict once scanned.
   * The answer comes from one indexed read; the sightings of the known hashes are handed to the
   * `sightings` queue (one job per batch, durable in Redis before the answer goes out), which the scanner
   * writes to PostgreSQL within seconds. When Redis does not take the job, they are written here, before
   * answering: a sighting is never lost. A malformed item gets its own error and does not fail the others.
   */
  async lookup(body: unknown, principal: Principal): Promise<LookupResponse> {
    const { items } = parseOrThrow(LookupRequest, body, 'body');
    const parsed = items.map((raw): { sha256: string } | { sha256: string | null; error: string } => {
      const quick = wellFormed(raw);
      if (quick !== null) return { sha256: quick };
      const result = LookupItem.safeParse(raw);
      if (result.success) return result.data;
      const given = (raw as { sha256?: unknown } | null)?.sha256;
      return {
        sha256: typeof given === 'string' ? given.slice(0, 128) : null,
        error: result.error.issues
          .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
          .join('; '),
      };
    });
    const valid = [...new Set(parsed.flatMap((p) => ('error' in p ? [] : [p.sha256])))];
    // An expired sample (past retention, not yet swept) is unknown: its verdict is not served any more.
    const seenSince = retentionCutoff(this.config);
    const read = valid.length === 0 ? null : await this.submissions.findForLookup(valid, seenSince);
    const seen = read?.samples ?? [];
    const [missing] = await Promise.all([
      this.missingObjects(seen),
      read === null || seen.length === 0
        ? undefined
        : this.recordSightings({
            sha256s: seen.map((s) => s.sha256),
            submitter: submitterOf(principal),
            seenAt: read.seenAt,
          }),
    ]);
    const known = new Map(seen.map((s) => [s.sha256, s]));
    return {
      items: parsed.map((p): LookupResult => {
        if ('error' in p) return p;
        const sample = known.get(p.sha256);
        if (sample === undefined) return { sha256: p.sha256, known: false, wanted: true };
        const scanned = sample.scanStatus === 'scanned' || sample.scanStatus === 'timeout';
        return {
          sha256: p.sha256,
          known: true,
          wanted: missing.has(p.sha256),
          ...(scanned && sample.verdict !== null ? { verdict: sample.verdict } : {}),
        };
      }),
    };
  }

  /**
   * The known samples whose object is gone (lost, or removed by retention), so their bytes are wanted
   * again. A sample row exists only once its object was promoted, and the service deletes the object only
   * with the row (retention, consent purge): the database answers for every sample but those whose scan
   * failed, which is where an object found missing ends up (the scanner's MissingObjectError). Only those
   * are checked in storage, one `stat` each, as every known sample used to be.
   */
  private async missingObjects(seen: LookupSample[]): Promise<Set<string>> {
    const failed = seen.filter((s) => s.scanStatus === 'failed');
    const gone = await mapLimited(failed, STAT_CONCURRENCY, async (s) =>
      (await this.store.stat(s.objectKey)) === null ? s.sha256 : null,
    );
    return new Set(gone.filter((s) => s !== null));
  }

  /** Queues the batch's sightings; when Redis will not take them, writes them at once. */
  private async recordSightings(batch: SightingBatch): Promise<void> {
    try {
      await this.queue.add(
        {
          queue: QueueName.Sightings,
          name: JobName.LookupSightings,
          data: {
            submitter: batch.submitter.pseudonym,
            country: batch.submitter.country,
            productVersion: batch.submitter.productVersion,
            seenAt: batch.seenAt,
            sha256s: [...batch.sha256s],
          },
        },
        `lookup-sightings-${randomUUID()}`,
        // Done jobs go at once: the id is random, there is nothing to deduplicate, and 1,000 hashes each.
        { removeOnComplete: true },
      );
    } catch (e) {
      this.logger.warn({ err: e }, 'lookup sightings written in the request: the queue is unavailable');
      await this.submissions.recordSightings([batch]);
    }
  }
}
