import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import {
  LookupItem,
  LookupRequest,
  type LookupResponse,
  type LookupResult,
  type Principal,
} from '#contracts';
import { type LookupSighting, SubmissionsRepository } from '#database';
import { OBJECT_STORE, type ObjectStore } from '#storage';
import { submitterOf } from '../auth/auth.js';
import { parseOrThrow } from '../http/validation.js';

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
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(SubmissionsRepository) private readonly submissions: SubmissionsRepository,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
  ) {}

  /**
   * Answers each item in order: known or not, whether the bytes are wanted, and the verdict once scanned.
   * Known hashes are recorded as sightings in one statement for the whole batch. A malformed item gets
   * its own error and does not fail the others.
   */
  async lookup(body: unknown, principal: Principal): Promise<LookupResponse> {
    const { items } = parseOrThrow(LookupRequest, body, 'body');
    const parsed = items.map((raw) => {
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
    const seenSince = new Date(Date.now() - this.config.stewardship.retentionDays * 86_400_000);
    const seen = await this.submissions.recordLookupSightings(valid, submitterOf(principal), seenSince);
    // A row without its object (lost, or removed by retention) is known but wanted again.
    const intact = new Set(
      (
        await mapLimited(seen, STAT_CONCURRENCY, async (s: LookupSighting) =>
          (await this.store.stat(s.objectKey)) === null ? null : s.sha256,
        )
      ).filter((s) => s !== null),
    );
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
          wanted: !intact.has(p.sha256),
          ...(scanned && sample.verdict !== null ? { verdict: sample.verdict } : {}),
        };
      }),
    };
  }
}
