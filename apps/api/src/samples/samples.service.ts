import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { CONFIG, type Config, retentionCutoff } from '#config';
import {
  FILE_TYPES,
  type FileType,
  JobName,
  type Page,
  PageQuery,
  SightingsQuery,
  type Principal,
  QueueName,
  type RescanQueued,
  type SampleSummary,
  type SampleView,
  type ScanView,
  SearchSamplesQuery,
  type SightingView,
  SpecimenError,
  isSha256,
} from '#contracts';
import {
  AuditRepository,
  Database,
  type KeysetPosition,
  OutboxRepository,
  RulesetsRepository,
  type SampleObject,
  type SampleRecord,
  type SampleSummaryRecord,
  SamplesRepository,
} from '#database';
import { scanJobId } from '#queue';
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { parseOrThrow } from '../http/validation.js';
import { OutboxDispatcher } from '../jobs/outbox-dispatcher.js';

/**
 * Sort keys as cursors carry them: a timestamp as the repository writes it (UTC, microseconds), or a size.
 * Checked here, so a cursor edited by hand is a 400 and not PostgreSQL's error about its cast (a 500).
 */
const TimestampKey = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
  .refine((k) => !Number.isNaN(Date.parse(k)), 'not a valid time');
const SizeKey = z
  .string()
  .refine((k) => /^\d{1,19}$/.test(k) && BigInt(k) <= 9223372036854775807n, 'not a size');

/** Position after the last row of a page, tied to the sort it was made for. */
const SearchCursor = z
  .strictObject({
    s: z.enum(['firstSeen', 'lastSeen', 'size']),
    o: z.enum(['asc', 'desc']),
    k: z.string().max(64),
    h: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .refine((c) => (c.s === 'size' ? SizeKey : TimestampKey).safeParse(c.k).success, {
    message: 'the position is not one of this sort',
    path: ['k'],
  });
const ListCursor = z.strictObject({ k: TimestampKey, i: z.uuid() });

function toPosition(cursor: string | undefined): KeysetPosition | undefined {
  if (cursor === undefined) return undefined;
  const { k, i } = decodeCursor(ListCursor, cursor);
  return { key: k, id: i };
}

/** Validates the `:sha256` path parameter (any case) and returns it in lowercase. */
export function sha256Param(value: string): string {
  if (!isSha256(value)) {
    throw new SpecimenError('VALIDATION_FAILED', 'sha256 must be 64 hexadecimal digits', {
      issues: [{ field: 'sha256', message: 'must be 64 hexadecimal digits' }],
    });
  }
  return value.toLowerCase();
}

const summary = (s: SampleSummaryRecord): SampleSummary => ({
  sha256: s.sha256,
  sha1: s.sha1,
  md5: s.md5,
  size: s.size,
  kind: s.kind,
  firstSeen: s.firstSeen.toISOString(),
  lastSeen: s.lastSeen.toISOString(),
  sightings: s.sightings,
  scanStatus: s.scanStatus,
  verdict: s.verdict,
});

@Injectable()
export class SamplesService {
  constructor(
    @Inject(OutboxDispatcher) private readonly dispatcher: OutboxDispatcher,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(Database) private readonly database: Database,
    @Inject(SamplesRepository) private readonly samples: SamplesRepository,
    @Inject(OutboxRepository) private readonly outbox: OutboxRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(RulesetsRepository) private readonly rulesets: RulesetsRepository,
  ) {}

  /** A sample by sha256, or NOT_FOUND (also when it is past retention). */
  async get(sha256: string): Promise<SampleRecord> {
    const sample = await this.samples.findBySha256(sha256Param(sha256), retentionCutoff(this.config));
    if (sample === null) throw new SpecimenError('NOT_FOUND', 'no such sample');
    return sample;
  }

  /** {@link get} for the routes that hand out bytes: only the sample's object key and size. */
  async object(sha256: string): Promise<SampleObject> {
    const sample = await this.samples.objectOf(sha256Param(sha256), retentionCutoff(this.config));
    if (sample === null) throw new SpecimenError('NOT_FOUND', 'no such sample');
    return sample;
  }

  /**
   * Queues a new scan with the active ruleset; its verdict replaces the sample's. Each request is its own
   * job (a new id each: one named by the request's millisecond merged requests made together), committed
   * to the outbox first like an ingest scan.
   */
  async rescan(sha256: string, principal: Principal): Promise<RescanQueued> {
    const sample = await this.get(sha256);
    const jobId = scanJobId(sample.sha256, `rescan-${randomUUID()}`);
    const { item, outboxId } = await this.database.transaction(async (tx) => {
      // With the rules as they are now: an activation or rule change the analyst has seen committed
      // before this transaction began, and a scanner that has not read it yet reads it first.
      const rulesAsOf = (await this.rulesets.clock(tx)).toISOString();
      const item = {
        queue: QueueName.Scan,
        name: JobName.ScanSample,
        data: { sha256: sample.sha256, rulesAsOf },
      } as const;
      const id = await this.outbox.add({ queue: item.queue, name: item.name, jobId, payload: item.data }, tx);
      await this.audit.append(
        {
          actorId: principal.tokenId,
          actorName: principal.name,
          action: 'sample.rescan',
          targetType: 'sample',
          targetId: sample.sha256,
          details: { jobId },
        },
        tx,
      );
      return { item, outboxId: id };
    });
    await this.dispatcher.dispatch(item, jobId, outboxId);
    return { sha256: sample.sha256, jobId };
  }

  async find(sha256: string): Promise<SampleView> {
    const sample = await this.get(sha256);
    const [scan, lastSighting] = await Promise.all([
      this.samples.latestScan(sample),
      this.samples.lastSighting(sample.sha256),
    ]);
    // The row's last_seen trails the newest sighting by up to a minute; the detail shows it exactly.
    const lastSeen = lastSighting !== null && lastSighting > sample.lastSeen ? lastSighting : sample.lastSeen;
    return {
      ...summary({ ...sample, lastSeen }),
      rulesetId: scan?.rulesetId ?? null,
      rulesetName: scan?.rulesetName ?? null,
      rulesetVersion: scan?.rulesetVersion ?? null,
      scannedAt: scan?.finishedAt.toISOString() ?? null,
      matches: scan?.matches ?? [],
      fileType: FILE_TYPES.includes(sample.fileType as FileType) ? (sample.fileType as FileType) : null,
      analysis: scan?.analysis ?? null,
    };
  }

  async search(query: unknown): Promise<Page<SampleSummary>> {
    const { cursor, ...q } = parseOrThrow(SearchSamplesQuery, query, 'query');
    let after: KeysetPosition | undefined;
    if (cursor !== undefined) {
      const c = decodeCursor(SearchCursor, cursor);
      if (c.s !== q.sort || c.o !== q.order) {
        throw new SpecimenError(
          'VALIDATION_FAILED',
          'invalid query: query.cursor: made for another sort or order',
          {
            issues: [{ field: 'query.cursor', message: 'the cursor was made for another sort or order' }],
          },
        );
      }
      after = { key: c.k, id: c.h };
    }
    const found = await this.samples.search({
      ...q,
      seenSince: retentionCutoff(this.config),
      ...(after === undefined ? {} : { after }),
    });
    const last = found.rows.at(-1);
    return {
      items: found.rows.map((r) => r.row),
      nextCursor:
        found.more && last !== undefined
          ? encodeCursor({ s: q.sort, o: q.order, k: last.position.key, h: last.position.id })
          : null,
    };
  }

  /** Sightings, newest first; the submitter appears only as its keyed pseudonym. */
  async sightings(sha256: string, query: unknown): Promise<Page<SightingView>> {
    const sample = await this.get(sha256);
    const q = parseOrThrow(SightingsQuery, query, 'query');
    const found = await this.samples.sightings(sample.sha256, q.limit, toPosition(q.cursor), q.source);
    return {
      items: found.rows.map(({ row }) => ({
        id: row.id,
        receivedAt: row.receivedAt.toISOString(),
        kind: row.kind,
        source: row.source,
        metadata: row.metadata,
        filename: row.filename,
        submitter: row.submitter,
        country: row.country,
        productVersion: row.productVersion,
      })),
      nextCursor: this.nextListCursor(found),
    };
  }

  /** Scan history, newest first, with ruleset versions and string offsets. */
  async scans(sha256: string, query: unknown): Promise<Page<ScanView>> {
    const sample = await this.get(sha256);
    const q = parseOrThrow(PageQuery, query, 'query');
    const found = await this.samples.scans(sample.sha256, q.limit, toPosition(q.cursor));
    return {
      items: found.rows.map(({ row }) => ({
        id: row.id,
        ruleset: { name: row.rulesetName, version: row.rulesetVersion },
        status: row.status,
        verdict: row.verdict,
        durationMs: row.durationMs,
        startedAt: row.startedAt.toISOString(),
        finishedAt: row.finishedAt.toISOString(),
        matches: row.matches,
      })),
      nextCursor: this.nextListCursor(found),
    };
  }

  private nextListCursor(found: { rows: { position: KeysetPosition }[]; more: boolean }): string | null {
    const last = found.rows.at(-1);
    return found.more && last !== undefined
      ? encodeCursor({ k: last.position.key, i: last.position.id })
      : null;
  }
}
