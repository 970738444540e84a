import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import {
  EARLIEST_DAY,
  JobName,
  type MaintenanceQueued,
  type Principal,
  QueueName,
  SpecimenError,
  type StatsCellView,
  StatsOverviewQuery,
  type StatsOverviewView,
  type StatsGroup,
  StatsSeriesQuery,
  type StatsSeriesView,
} from '#contracts';
import { type StatsCell, type StatsDimension, StewardshipRepository } from '#database';
import { QueueProducer } from '#queue';
import { parseOrThrow } from '../http/validation.js';

const DEFAULT_DAYS = 30;
const TOP_RULES = 10;

const isoDay = (d: Date): string => d.toISOString().slice(0, 10);

/**
 * The days asked for: `to` is today (UTC) when not given, `from` the 30 days up to `to`. A `from` after the
 * default `to` (a day still to come) is refused as a `from` after a given `to` is (it answered no days).
 */
export function statsRange(
  q: { from?: string | undefined; to?: string | undefined },
  today: string = isoDay(new Date()),
): { from: string; to: string } {
  const to = q.to ?? today;
  if (q.from !== undefined && q.from > to) {
    const message = `from must not be after to (${to}${q.to === undefined ? ', today in UTC, when to is not given' : ''})`;
    throw new SpecimenError('VALIDATION_FAILED', `invalid query: query.from: ${message}`, {
      issues: [{ field: 'query.from', message }],
    });
  }
  const from = q.from ?? isoDay(new Date(Date.parse(`${to}T00:00:00Z`) - (DEFAULT_DAYS - 1) * 86_400_000));
  // The default window of an early `to` starts no earlier than PostgreSQL's first day (no year 0000).
  return { from: from < EARLIEST_DAY ? EARLIEST_DAY : from, to };
}

/**
 * Statistics from the stored daily roll-ups only, never from raw rows. The roll-up already left out every
 * cell under k (see StewardshipRepository.rollupDay); a day and dimension with a cell under the current k
 * (k raised after the day was made final) is left out whole, so no difference of answers can reveal it.
 */
@Injectable()
export class StatsService {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(StewardshipRepository) private readonly stewardship: StewardshipRepository,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
  ) {}

  private get k(): number {
    return this.config.stewardship.kAnonymity;
  }

  /** Published cells of one dimension by day: days whose total is unpublished are absent. */
  private async published(
    dimension: StatsDimension,
    from: string,
    to: string,
  ): Promise<{ totals: Map<string, number>; byDay: Map<string, StatsCellView[]> }> {
    const totals = new Map<string, number>();
    for (const t of await this.stewardship.cells('total', from, to)) {
      if (t.agents >= this.k) totals.set(t.day, t.submissions);
    }
    const grouped = new Map<string, StatsCell[]>();
    for (const c of await this.stewardship.cells(dimension, from, to)) {
      grouped.set(c.day, [...(grouped.get(c.day) ?? []), c]);
    }
    const byDay = new Map<string, StatsCellView[]>();
    for (const day of totals.keys()) {
      const cells = grouped.get(day) ?? [];
      byDay.set(
        day,
        cells.some((c) => c.agents < this.k)
          ? []
          : cells.map((c) => ({ value: c.value, submissions: c.submissions })),
      );
    }
    return { totals, byDay };
  }

  async series(query: unknown): Promise<StatsSeriesView> {
    const q = parseOrThrow(StatsSeriesQuery, query, 'query');
    const { from, to } = statsRange(q);
    const { totals, byDay } = await this.published(q.groupBy, from, to);
    return {
      groupBy: q.groupBy,
      interval: q.interval,
      from,
      to,
      k: this.k,
      points: [...totals.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([date, total]) => ({ date, total, cells: byDay.get(date) ?? [] })),
    };
  }

  async overview(query: unknown): Promise<StatsOverviewView> {
    const q = parseOrThrow(StatsOverviewQuery, query, 'query');
    const { from, to } = statsRange(q);
    const sum = async (group: StatsGroup): Promise<{ total: number; cells: StatsCellView[] }> => {
      const { totals, byDay } = await this.published(group, from, to);
      const values = new Map<string, number>();
      for (const cells of byDay.values()) {
        for (const c of cells) values.set(c.value, (values.get(c.value) ?? 0) + c.submissions);
      }
      return {
        total: [...totals.values()].reduce((a, b) => a + b, 0),
        cells: [...values.entries()]
          .map(([value, submissions]) => ({ value, submissions }))
          .sort((a, b) => b.submissions - a.submissions || a.value.localeCompare(b.value)),
      };
    };
    const kind = await sum('kind');
    const rules = (await sum('rule')).cells;
    return {
      from,
      to,
      k: this.k,
      total: kind.total,
      byKind: kind.cells,
      byVerdict: (await sum('verdict')).cells,
      byCountry: (await sum('country')).cells,
      byProductVersion: (await sum('productVersion')).cells,
      topRules: rules.filter((r) => r.value !== '(other)').slice(0, TOP_RULES),
    };
  }

  /** Queues a retention sweep now (besides the scheduled ones); it audits what it removed. */
  async sweepRetention(principal: Principal): Promise<MaintenanceQueued> {
    const jobId = `retention-sweep-manual-${Date.now()}`;
    await this.queue.add(
      {
        queue: QueueName.Maintenance,
        name: JobName.RetentionSweep,
        data: { requestedBy: principal.tokenId, requestedByName: principal.name },
      },
      jobId,
    );
    return { jobId };
  }

  /** Queues a statistics roll-up now. */
  async rollup(): Promise<MaintenanceQueued> {
    const jobId = `stats-rollup-manual-${Date.now()}`;
    await this.queue.add({ queue: QueueName.Maintenance, name: JobName.StatsRollup, data: {} }, jobId);
    return { jobId };
  }
}
