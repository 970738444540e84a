import { z } from 'zod';
import { Cursor, PageLimit } from './analyst.schema.js';
import { QueueName } from './jobs.js';
import { RuleSource } from './ruleset.schema.js';
import { StringMatchView } from './sample.schema.js';
import { ActorView, Count, Id, IsoTime, RuleMeta, Sha256Hex } from './views.js';

export const RETROHUNT_STATUSES = ['queued', 'running', 'done', 'cancelled', 'failed'] as const;
export const RetrohuntStatus = z.enum(RETROHUNT_STATUSES);
export type RetrohuntStatus = z.infer<typeof RetrohuntStatus>;

/** `POST /v1/retrohunts`: YARA rules to run over every retained sample. */
export const CreateRetrohuntRequest = z.strictObject({
  source: RuleSource,
});
export type CreateRetrohuntRequest = z.infer<typeof CreateRetrohuntRequest>;

/** `GET /v1/retrohunts/:id`: the page of matches, and whether the source comes with it (default true). */
export const RetrohuntMatchesQuery = z.strictObject({
  limit: PageLimit,
  cursor: Cursor.optional(),
  source: z.enum(['true', 'false']).default('true'),
});
export type RetrohuntMatchesQuery = z.output<typeof RetrohuntMatchesQuery>;

/** `POST /v1/rulesets/:id/activate` body (optional). */
export const ActivateRulesetRequest = z.strictObject({
  /** Queue a low-priority rescan of every retained sample with the new version. */
  retroscan: z.boolean().default(false),
});
export type ActivateRulesetRequest = z.output<typeof ActivateRulesetRequest>;

export const RetrohuntProgressView = z.strictObject({
  scanned: Count,
  /**
   * Of the samples scanned, those the rules did not finish within SCAN_TIMEOUT_MS: no match is known for
   * them (libyara reports none on a timeout).
   */
  timedOut: Count,
  total: Count,
  /** Bytes of the samples scanned so far. */
  bytes: Count,
});
export type RetrohuntProgressView = z.infer<typeof RetrohuntProgressView>;

export const RetrohuntSummaryView = z.strictObject({
  id: Id,
  status: RetrohuntStatus,
  ruleCount: Count,
  progress: RetrohuntProgressView,
  matchCount: Count,
  createdAt: IsoTime,
  createdBy: ActorView.nullable(),
  startedAt: IsoTime.nullable(),
  finishedAt: IsoTime.nullable(),
  error: z.string().nullable(),
});
export type RetrohuntSummaryView = z.infer<typeof RetrohuntSummaryView>;

export const RetrohuntMatchView = z.strictObject({
  sha256: Sha256Hex,
  rule: z.string(),
  namespace: z.string(),
  tags: z.array(z.string()),
  meta: RuleMeta,
  strings: z.array(StringMatchView),
});
export type RetrohuntMatchView = z.infer<typeof RetrohuntMatchView>;

export const RetrohuntView = RetrohuntSummaryView.extend({
  /** Absent with `source=false`. */
  source: z.string().optional(),
  matches: z.array(RetrohuntMatchView),
  nextCursor: Cursor.nullable(),
});
export type RetrohuntView = z.infer<typeof RetrohuntView>;

/** `GET /v1/admin/jobs/failed?queue=`. */
export const FailedJobsQuery = z.strictObject({
  queue: z.enum(QueueName),
  limit: PageLimit,
});
export type FailedJobsQuery = z.output<typeof FailedJobsQuery>;

/** `POST /v1/admin/jobs/failed/replay`: every failed job of the queue, or only the given ids. */
export const ReplayFailedJobsRequest = z.strictObject({
  queue: z.enum(QueueName),
  ids: z.array(z.string().min(1).max(256)).min(1).max(1000).optional(),
});
export type ReplayFailedJobsRequest = z.output<typeof ReplayFailedJobsRequest>;

export const FailedJobView = z.strictObject({
  id: z.string(),
  name: z.string(),
  /** The payload: ids only, never bytes or secrets. */
  data: z.record(z.string(), z.unknown()),
  failedReason: z.string(),
  attemptsMade: Count,
  failedAt: IsoTime.nullable(),
  createdAt: IsoTime,
});
export type FailedJobView = z.infer<typeof FailedJobView>;

export const ReplayedJobsView = z.strictObject({
  queue: z.enum(QueueName),
  replayed: z.array(z.string()),
  /** Asked-for ids that are not failed jobs of the queue (unknown, or no longer failed). */
  notFailed: z.array(z.string()),
});
export type ReplayedJobsView = z.infer<typeof ReplayedJobsView>;
