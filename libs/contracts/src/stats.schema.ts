import { z } from 'zod';
import { QueueName } from './jobs.js';
import { Count, IsoDay } from './views.js';

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
export const StatsCellView = z.strictObject({
  /** The group's value; `(other)` gathers the values each seen by fewer than k agents. */
  value: z.string(),
  submissions: Count,
});
export type StatsCellView = z.infer<typeof StatsCellView>;

export const StatsSeriesView = z.strictObject({
  groupBy: z.enum(STATS_GROUPS),
  interval: z.literal('day'),
  from: IsoDay,
  to: IsoDay,
  k: Count,
  /** Days with a publishable roll-up; a day whose total is under k is absent. */
  points: z.array(z.strictObject({ date: IsoDay, total: Count.nullable(), cells: z.array(StatsCellView) })),
});
export type StatsSeriesView = z.infer<typeof StatsSeriesView>;

export const StatsOverviewView = z.strictObject({
  from: IsoDay,
  to: IsoDay,
  k: Count,
  /** Sums over the days of published cells only. */
  total: Count,
  byKind: z.array(StatsCellView),
  byVerdict: z.array(StatsCellView),
  byCountry: z.array(StatsCellView),
  byProductVersion: z.array(StatsCellView),
  /** The 10 rules that matched most often (their `(other)` cell left out). */
  topRules: z.array(StatsCellView),
});
export type StatsOverviewView = z.infer<typeof StatsOverviewView>;

/** 202 answer of `POST /v1/admin/retention/sweep` and `POST /v1/admin/stats/rollup`. */
export const MaintenanceQueued = z.strictObject({ jobId: z.string() });
export type MaintenanceQueued = z.infer<typeof MaintenanceQueued>;

/** One job state of a queue in `GET /v1/queues`. */
export const QueueStateView = z.strictObject({
  state: z.enum(['waiting', 'prioritized', 'delayed', 'active', 'failed', 'completed']),
  depth: Count,
  /** Seconds since the oldest job of this state was created (0 when none; not given for completed). */
  oldestAgeSeconds: z.number().nonnegative(),
});
export type QueueStateView = z.infer<typeof QueueStateView>;

/** `GET /v1/queues`: each queue's depths and the scanner workers listening to it. */
export const QueuesView = z.strictObject({
  queues: z.array(
    z.strictObject({ name: z.enum(QueueName), workers: Count, states: z.array(QueueStateView) }),
  ),
});
export type QueuesView = z.infer<typeof QueuesView>;
