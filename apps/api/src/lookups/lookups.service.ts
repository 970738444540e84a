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
  type Verdict,
} from '#contracts';
import { type LookupSample, type SightingBatch, SubmissionsRepository } from '#database';
import { QueueProducer, ConnectionErrorThrottle } from '#queue';
import { OBJECT_STORE, type ObjectStore } from '#storage';
import { submitterOf } from '../auth/auth.js';
import { parseOrThrow } from '../http/validation.js';

/** By character code below 128: 1 for a digit or a-f, 2 for A-F, 0 for anything else. */
const HEX_CASE = new Uint8Array(128);
for (const c of '0123456789abcdef') HEX_CASE[c.charCodeAt(0)] = 1;
for (const c of 'ABCDEF') HEX_CASE[c.charCodeAt(0)] = 2;

/**
 * 0 unless `s` is 64 hex digits; then 1, or 3 when some are upper case. A loop over the characters, where
 * the two regular expressions it replaces (~0.7 µs a hash each) were a tenth of the API's CPU in a lookup.
 */
function hexDigits(s: string): number {
  if (s.length !== 64) return 0;
  let seen = 0;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    const k = c < 128 ? (HEX_CASE[c] as number) : 0;
    if (k === 0) return 0;
    seen |= k;
  }
  return seen;
}

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
  // for…in, not Object.keys: no array per item (the prototype is Object.prototype, nothing inherited).
  for (const key in item) {
    if (key !== 'sha256' && key !== 'size' && key !== 'kind') return null;
  }
  const { sha256, size, kind } = item;
  const digits = typeof sha256 === 'string' ? hexDigits(sha256) : 0;
  if (digits === 0) return null;
  if (size !== undefined && !(Number.isSafeInteger(size) && (size as number) >= 0)) return null;
  if (kind !== undefined && !KINDS.has(kind)) return null;
  // toLowerCase allocates a new string even when nothing changes: agents send lower case.
  return digits === 1 ? (sha256 as string) : (sha256 as string).toLowerCase();
}

/** What the answer says of a known hash. */
interface KnownState {
  readonly wanted: boolean;
  readonly verdict: Verdict | null;
}

/** Fixed pieces of the answer's JSON text (see LookupsService.lookupJson). */
const OPEN = Buffer.from('{"items":[');
const CLOSE = Buffer.from(']}');
const COMMA = 0x2c;
const ITEM_HEAD = Buffer.from('{"sha256":"');
const UNKNOWN_TAIL = Buffer.from('","known":false,"wanted":true}');
const tails = new Map<KnownState, Buffer>();
/**
 * What follows an item's sha256 in the answer: one buffer per distinct state (a handful, see
 * {@link knownState}), reused, and found without building a key per item.
 */
function tailOf(state: KnownState | undefined): Buffer {
  if (state === undefined) return UNKNOWN_TAIL;
  let tail = tails.get(state);
  if (tail === undefined) {
    tail = Buffer.from(
      `","known":true,"wanted":${state.wanted}${state.verdict === null ? '' : `,"verdict":${JSON.stringify(state.verdict)}`}}`,
    );
    tails.set(state, tail);
  }
  return tail;
}

/** The states a known hash can be in, one shared object each (not one per hash of every batch). */
const knownStates = new Map<Verdict | null, readonly [KnownState, KnownState]>();
function knownState(wanted: boolean, verdict: Verdict | null): KnownState {
  let pair = knownStates.get(verdict);
  if (pair === undefined) {
    pair = [Object.freeze({ wanted: false, verdict }), Object.freeze({ wanted: true, verdict })];
    knownStates.set(verdict, pair);
  }
  return pair[wanted ? 1 : 0];
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
  /** Redis outages: one line a minute, not a stack per request. */
  private readonly redisDown = new ConnectionErrorThrottle();

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
    const answer = await this.answer(body, principal);
    return {
      items: answer.hashes.map((sha256, i): LookupResult => {
        const error = answer.errors?.[i];
        if (error !== undefined) return { sha256, error };
        const state = answer.states[i];
        if (state === undefined) return { sha256: sha256 as string, known: false, wanted: true };
        return {
          sha256: sha256 as string,
          known: true,
          wanted: state.wanted,
          ...(state.verdict !== null ? { verdict: state.verdict } : {}),
        };
      }),
    };
  }

  /**
   * {@link lookup}'s answer as the UTF-8 JSON text of a {@link LookupResponse}, written straight into one
   * buffer: for 1,000 items, building the answer's objects, stringifying them and encoding the string was
   * a good part of what a lookup allocated. A well-formed item is its sha256 (hex digits, no escaping)
   * between fixed pieces of text; an error goes through JSON.stringify.
   */
  async lookupJson(body: unknown, principal: Principal): Promise<Buffer> {
    const { hashes, errors, states } = await this.answer(body, principal);
    const pieces = new Array<Buffer>(hashes.length);
    let size = OPEN.length + CLOSE.length + Math.max(0, hashes.length - 1);
    for (let i = 0; i < hashes.length; i++) {
      const error = errors?.[i];
      const piece =
        error !== undefined ? Buffer.from(JSON.stringify({ sha256: hashes[i], error })) : tailOf(states[i]);
      pieces[i] = piece;
      size += piece.length + (error !== undefined ? 0 : ITEM_HEAD.length + 64);
    }
    const out = Buffer.allocUnsafe(size);
    let at = OPEN.copy(out, 0);
    for (let i = 0; i < hashes.length; i++) {
      if (i > 0) out[at++] = COMMA;
      const piece = pieces[i] as Buffer;
      if (errors?.[i] === undefined) {
        at += ITEM_HEAD.copy(out, at);
        at += out.write(hashes[i] as string, at, 'latin1');
      }
      at += piece.copy(out, at);
    }
    at += CLOSE.copy(out, at);
    if (at !== size) throw new Error(`lookup answer: wrote ${at} bytes of ${size}`);
    return out;
  }

  /**
   * The answer in columns, by item: the sha256 (lower case; as given, cut to 128 characters, or null for a
   * malformed item), the error of a malformed item, and what is known of a known one.
   */
  private async answer(
    body: unknown,
    principal: Principal,
  ): Promise<{
    hashes: (string | null)[];
    errors: (string | undefined)[] | null;
    states: (KnownState | undefined)[];
  }> {
    const { items } = parseOrThrow(LookupRequest, body, 'body');
    const hashes = new Array<string | null>(items.length);
    let errors: (string | undefined)[] | null = null;
    // Each distinct hash once, and then what is known of it: one map for both, no second one per batch.
    const distinct = new Map<string, KnownState | undefined>();
    for (let i = 0; i < items.length; i++) {
      const raw = items[i];
      const quick = wellFormed(raw);
      if (quick !== null) {
        hashes[i] = quick;
        distinct.set(quick, undefined);
        continue;
      }
      const result = LookupItem.safeParse(raw);
      if (result.success) {
        hashes[i] = result.data.sha256;
        distinct.set(result.data.sha256, undefined);
        continue;
      }
      const given = (raw as { sha256?: unknown } | null)?.sha256;
      hashes[i] = typeof given === 'string' ? given.slice(0, 128) : null;
      errors ??= new Array<string | undefined>(items.length);
      errors[i] = result.error.issues
        .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
        .join('; ');
    }
    const states = new Array<KnownState | undefined>(items.length);
    if (distinct.size === 0) return { hashes, errors, states };
    // An expired sample (past retention, not yet swept) is unknown: its verdict is not served any more.
    const seenSince = retentionCutoff(this.config);
    const read = await this.submissions.findForLookup([...distinct.keys()], seenSince);
    const seen = read.samples;
    const [missing] = await Promise.all([
      this.missingObjects(seen),
      seen.length === 0
        ? undefined
        : this.recordSightings({
            sha256s: seen.map((s) => s.sha256),
            submitter: submitterOf(principal),
            seenAt: read.seenAt,
          }),
    ]);
    for (const sample of seen) {
      // A timed-out scan has no verdict (the sample's is null then too).
      const scanned = sample.scanStatus === 'scanned';
      distinct.set(sample.sha256, knownState(missing.has(sample.sha256), scanned ? sample.verdict : null));
    }
    for (let i = 0; i < hashes.length; i++) {
      const sha256 = hashes[i];
      if (sha256 !== null && sha256 !== undefined && errors?.[i] === undefined)
        states[i] = distinct.get(sha256);
    }
    return { hashes, errors, states };
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
      s.objectKey === null || (await this.store.stat(s.objectKey)) === null ? s.sha256 : null,
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
        // Done jobs go at once: the id is random, there is nothing to deduplicate, and 1,000 hashes each. A
        // job that failed for good stays for replay, but no longer than the raw data it would have written
        // (it names the agent's pseudonym and country): BullMQ drops it after the retention period.
        {
          removeOnComplete: true,
          removeOnFail: { age: this.config.stewardship.retentionDays * 86_400 },
        },
      );
    } catch (e) {
      this.redisDown.warn(
        this.logger,
        e,
        'lookup sightings written in the request: the queue is unavailable',
      );
      await this.submissions.recordSightings([batch]);
    }
  }
}
