import { z } from 'zod';
import { Cursor, PageLimit } from './analyst.schema.js';
import { QueueName } from './jobs.js';
import { RuleSource } from './ruleset.schema.js';
import type { StringMatchView } from './sample.schema.js';

export const RETROHUNT_STATUSES = ['queued', 'running', 'done', 'cancelled', 'failed'] as const;
export type RetrohuntStatus = (typeof RETROHUNT_STATUSES)[number];

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

export interface RetrohuntProgressView {
  scanned: number;
  /**
   * Of the samples scanned, those the rules did not finish within SCAN_TIMEOUT_MS: no match is known for
   * them (libyara reports none on a timeout).
   */
  timedOut: number;
  total: number;
  /** Bytes of the samples scanned so far. */
  bytes: number;
}

export interface RetrohuntSummaryView {
  id: string;
  status: RetrohuntStatus;
  ruleCount: number;
  progress: RetrohuntProgressView;
  matchCount: number;
  createdAt: string;
  createdBy: { id: string; name: string | null } | null;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
}

export interface RetrohuntMatchView {
  sha256: string;
  rule: string;
  namespace: string;
  tags: string[];
  meta: Record<string, string | number | boolean>;
  strings: StringMatchView[];
}

export interface RetrohuntView extends RetrohuntSummaryView {
  /** Absent with `source=false`. */
  source?: string;
  matches: RetrohuntMatchView[];
  nextCursor: string | null;
}

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

export interface FailedJobView {
  id: string;
  name: string;
  /** The payload: ids only, never bytes or secrets. */
  data: Record<string, unknown>;
  failedReason: string;
  attemptsMade: number;
  failedAt: string | null;
  createdAt: string;
}

export interface ReplayedJobsView {
  queue: QueueName;
  replayed: string[];
  /** Asked-for ids that are not failed jobs of the queue (unknown, or no longer failed). */
  notFailed: string[];
}
