interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Many callers, few round trips (group commit for writes, one `where … = any(…)` for reads): callers
 * submit one item each and wait for its result; items submitted while a call is in flight go together
 * into the next one (up to `maxBatch`). An idle batcher calls at once, so a lone item waits for no timer,
 * and under load batches grow by themselves. With `lingerMs`, an idle batcher waits that long for company
 * (or until `lingerFor` items are in) before calling: when items come one at a time, a little latency per
 * item buys far fewer calls, and at high rates the count ends the wait early. When a batch fails, its
 * items are tried again one by one, so one bad item fails only its own caller.
 */
export class Batcher<T, R> {
  private pending: Array<Pending<T, R>> = [];
  private writing = false;
  private lingering: NodeJS.Timeout | null = null;

  constructor(
    /** Handles the items, all or nothing, and returns one result per item, in order. */
    private readonly call: (items: T[]) => Promise<R[]>,
    private readonly maxBatch: number,
    private readonly linger: {
      /** How long an idle batcher waits for more items before a call (0: none). */
      ms: number;
      /** Items that end the wait at once (default maxBatch). */
      items?: number;
    } = { ms: 0 },
  ) {
    if (!(maxBatch >= 1)) throw new Error(`maxBatch must be >= 1, got ${maxBatch}`);
    if (!(linger.ms >= 0)) throw new Error(`linger.ms must be >= 0, got ${linger.ms}`);
  }

  /** Items waiting for the next call. */
  get queued(): number {
    return this.pending.length;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.writing) return;
      const enough = Math.min(this.maxBatch, this.linger.items ?? this.maxBatch);
      if (this.linger.ms === 0 || this.pending.length >= enough) void this.drain();
      else this.lingering ??= setTimeout(() => void this.drain(), this.linger.ms);
    });
  }

  private async drain(): Promise<void> {
    if (this.lingering !== null) clearTimeout(this.lingering);
    this.lingering = null;
    this.writing = true;
    try {
      while (this.pending.length > 0) await this.flush(this.pending.splice(0, this.maxBatch));
    } finally {
      this.writing = false;
    }
  }

  private async flush(batch: Array<Pending<T, R>>): Promise<void> {
    let results: R[];
    try {
      results = await this.call(batch.map((p) => p.item));
    } catch (e) {
      if (batch.length === 1) {
        batch[0]?.reject(e);
        return;
      }
      for (const p of batch) await this.flush([p]);
      return;
    }
    batch.forEach((p, i) => {
      if (i < results.length) p.resolve(results[i] as R);
      else p.reject(new Error(`the batch call returned ${results.length} results for ${batch.length} items`));
    });
  }
}
