import { printable } from './printable.js';

/**
 * A one-line progress bar on a terminal; silent anywhere else (pipes, `--json`). Notes (an item known,
 * passed over or failed, as it happens) go above the bar only when the final report does not go to the
 * terminal too: with both on one terminal every such line would show twice. Warnings (retries) always do.
 */
export class Progress {
  private lastDraw = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream | null,
    private readonly notes = true,
  ) {}

  static for(json: boolean): Progress {
    return new Progress(!json && process.stderr.isTTY ? process.stderr : null, !process.stdout.isTTY);
  }

  update(label: string, done: number, total: number): void {
    if (this.stream === null) return;
    const now = Date.now();
    if (done < total && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 30;
    const ratio = total === 0 ? 1 : done / total;
    const filled = Math.round(ratio * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    this.stream.write(
      `\r[${bar}] ${(ratio * 100).toFixed(0).padStart(3)}% ${printable(label).slice(0, 40)}\x1b[K`,
    );
    if (done >= total) this.stream.write('\n');
  }

  /** An item's outcome as it happens; the final report lists it too. */
  note(message: string): void {
    if (this.notes) this.warn(message);
  }

  /** What the final report does not show (a retry after 429 or 503 and its wait): always on a terminal. */
  warn(message: string): void {
    this.stream?.write(`\r${printable(message)}\x1b[K\n`);
  }
}
