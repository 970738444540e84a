/** A counting semaphore: at most `size` calls of {@link run} are inside `fn` at once; the rest wait in order. */
export class Slots {
  private busy = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    if (!(size >= 1)) throw new Error(`size must be >= 1, got ${size}`);
  }

  /** Calls running inside a slot. */
  get inUse(): number {
    return this.busy;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy < this.size) this.busy++;
    // A finishing call hands its slot straight to the next waiter, so `busy` never overshoots.
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.busy--;
      else next();
    }
  }
}
