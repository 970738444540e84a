interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Many callers, few round trips (group commit for writes, one `where … = any(…)` for reads): callers
 * submit one item each and wait for its result; items submitted while a call is in flight go together
 * into the next one (up to `maxBatch`). An idle batcher calls at once, so a lone item waits for no timer,
 * and under load batches grow by themselves. When a batch fails, its items are tried again one by one,
 * so one bad item fails only its own caller.
 */
export class Batcher<T, R> {
  private pending: Array<Pending<T, R>> = [];
  private writing = false;

  constructor(
    /** Handles the items, all or nothing, and returns one result per item, in order. */
    private readonly call: (items: T[]) => Promise<R[]>,
    private readonly maxBatch: number,
  ) {
    if (!(maxBatch >= 1)) throw new Error(`maxBatch must be >= 1, got ${maxBatch}`);
  }

  /** Items waiting for the next call. */
  get queued(): number {
    return this.pending.length;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
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
