import { z } from 'zod';

/** What `GET /v1/stats/series` can group by. */
export const STATS_GROUPS = ['kind', 'verdict', 'country', 'productVersion', 'rule'] as const;
export type StatsGroup = (typeof STATS_GROUPS)[number];

/** The first UTC day PostgreSQL's `date` takes (it has no year 0000: that was a 500). */
export const EARLIEST_DAY = '0001-01-01';
const day = z.iso.date().refine((d) => d >= EARLIEST_DAY, { message: `must be ${EARLIEST_DAY} or later` });

/** `GET /v1/stats/overview`: UTC days, inclusive; the last 30 days by default. */
export const StatsOverviewQuery = z
  .strictObject({ from: day.optional(), to: day.optional() })
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, {
    message: 'from must not be after to',
    path: ['from'],
  });

/** `GET /v1/stats/series`. */
export const StatsSeriesQuery = z
  .strictObject({
    groupBy: z.enum(STATS_GROUPS),
    from: day.optional(),
    to: day.optional(),
    interval: z.literal('day').default('day'),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, {
    message: 'from must not be after to',
    path: ['from'],
  });

/** A published cell: never one that fewer than k distinct agents contributed to. */
export interface StatsCellView {
  /** The group's value; `(other)` gathers the values each seen by fewer than k agents. */
  value: string;
  submissions: number;
}

export interface StatsSeriesView {
  groupBy: StatsGroup;
  interval: 'day';
  from: string;
  to: string;
  k: number;
  /** Days with a publishable roll-up; a day whose total is under k is absent. */
  points: { date: string; total: number | null; cells: StatsCellView[] }[];
}

export interface StatsOverviewView {
  from: string;
  to: string;
  k: number;
  /** Sums over the days of published cells only. */
  total: number;
  byKind: StatsCellView[];
  byVerdict: StatsCellView[];
  byCountry: StatsCellView[];
  byProductVersion: StatsCellView[];
  /** The 10 rules that matched most often (their `(other)` cell left out). */
  topRules: StatsCellView[];
}

/** 202 answer of `POST /v1/admin/retention/sweep` and `POST /v1/admin/stats/rollup`. */
export interface MaintenanceQueued {
  jobId: string;
}

/** One job state of a queue in `GET /v1/queues`. */
export interface QueueStateView {
  state: 'waiting' | 'prioritized' | 'delayed' | 'active' | 'failed' | 'completed';
  depth: number;
  /** Seconds since the oldest job of this state was created (0 when none; not given for completed). */
  oldestAgeSeconds: number;
}

/** `GET /v1/queues`: each queue's depths and the scanner workers listening to it. */
export interface QueuesView {
  queues: { name: string; workers: number; states: QueueStateView[] }[];
}
