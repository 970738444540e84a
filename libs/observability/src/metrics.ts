import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Which process a registry describes; a constant `app` label on every series. */
export type MetricsApp = 'api' | 'scanner';

/** One queue state as the queue gauges report it. */
export interface QueueGaugeSample {
  queue: string;
  state: string;
  depth: number;
  oldestAgeSeconds: number;
}

/**
 * Every Prometheus series of Specimen, on a registry of its own (not prom-client's global one, so two
 * instances in one test process do not collide). The one module that imports prom-client.
 */
export class SpecimenMetrics {
  private readonly registry = new Registry();

  /** Seconds per HTTP request, by method, route template (never the raw URL) and status. */
  readonly httpDuration = new Histogram({
    name: 'specimen_http_request_duration_seconds',
    help: 'HTTP request duration by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  /** Bytes of accepted uploads (verified against their checksums), by sample kind. */
  readonly bytesIngested = new Counter({
    name: 'specimen_ingested_bytes_total',
    help: 'Bytes of accepted uploads by sample kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  /** Seconds per YARA scan, by outcome (`scanned`, `timeout`, `failed`). */
  readonly scanDuration = new Histogram({
    name: 'specimen_scan_duration_seconds',
    help: 'YARA scan duration by outcome',
    labelNames: ['status'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });

  /** Verdicts of finished scans. */
  readonly verdicts = new Counter({
    name: 'specimen_scan_verdicts_total',
    help: 'Verdicts of finished scans',
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  });

  /** Rules that did not compile (quarantined), by where they were compiled (`api` on upload, `scanner`). */
  readonly ruleCompileErrors = new Counter({
    name: 'specimen_rule_compile_errors_total',
    help: 'YARA rules that failed to compile and were quarantined',
    registers: [this.registry],
  });

  constructor(readonly app: MetricsApp) {
    this.registry.setDefaultLabels({ app });
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Registers the queue gauges, read from `source` when scraped. One read serves every scrape for
   * `cacheMs`, so frequent scrapes by several Prometheus servers cost Redis one read. When the read fails
   * the gauges are left empty for that scrape and `specimen_queue_stats_up` is 0.
   */
  observeQueues(source: () => Promise<QueueGaugeSample[]>, cacheMs: number): void {
    let cached: { at: number; samples: Promise<QueueGaugeSample[] | null> } | null = null;
    const read = (): Promise<QueueGaugeSample[] | null> => {
      const now = Date.now();
      if (cached === null || now - cached.at >= cacheMs) {
        cached = { at: now, samples: source().catch(() => null) };
      }
      return cached.samples;
    };
    const fill = async (gauge: Gauge<'queue' | 'state'>, pick: (s: QueueGaugeSample) => number) => {
      gauge.reset();
      for (const s of (await read()) ?? []) gauge.set({ queue: s.queue, state: s.state }, pick(s));
    };
    new Gauge({
      name: 'specimen_queue_jobs',
      help: 'Jobs per queue and state',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        await fill(this, (s) => s.depth);
      },
    });
    new Gauge({
      name: 'specimen_queue_oldest_job_age_seconds',
      help: 'Age of the oldest job per queue and state (0 when none)',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        await fill(this, (s) => s.oldestAgeSeconds);
      },
    });
    new Gauge({
      name: 'specimen_queue_stats_up',
      help: '1 when the queue gauges could be read from Redis, else 0',
      registers: [this.registry],
      async collect() {
        this.set((await read()) === null ? 0 : 1);
      },
    });
  }

  /** The Content-Type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text of every series. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
