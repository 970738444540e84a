import { type NativeRules, type NativeScanOptions, native } from './native-addon.js';
import type { ScanOptions, ScanResult } from './yara.types.js';

/** Default of {@link ScanOptions.maxMatchesPerString}. */
export const DEFAULT_MAX_MATCHES_PER_STRING = 1000;
/** Default of {@link ScanOptions.maxMatchesPerScan}. */
export const DEFAULT_MAX_MATCHES_PER_SCAN = 10_000;

/** An error from libyara or this binding; `code` is stable, e.g. `YARA_ERROR_COULD_NOT_OPEN_FILE`. */
export class YaraError extends Error {
  override readonly name = 'YaraError';

  constructor(
    message: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

function hasCode(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

export function toYaraError(error: unknown): unknown {
  return hasCode(error) ? new YaraError(error.message, error.code, { cause: error }) : error;
}

function toNativeOptions(options: ScanOptions = {}): NativeScanOptions {
  const { timeoutMs, externals, fastMode, maxMatchesPerString, maxMatchesPerScan } = options;
  if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
    throw new YaraError(`timeoutMs must be >= 0, got ${timeoutMs}`, 'YARA_ERROR_INVALID_ARGUMENT');
  }
  if (
    maxMatchesPerString !== undefined &&
    !(Number.isInteger(maxMatchesPerString) && maxMatchesPerString >= 0)
  ) {
    throw new YaraError('maxMatchesPerString must be a whole number >= 0', 'YARA_ERROR_INVALID_ARGUMENT');
  }
  if (maxMatchesPerScan !== undefined && !(Number.isInteger(maxMatchesPerScan) && maxMatchesPerScan >= 0)) {
    throw new YaraError('maxMatchesPerScan must be a whole number >= 0', 'YARA_ERROR_INVALID_ARGUMENT');
  }
  return {
    // libyara's timeout has whole-second granularity; round up so a limit is never shortened.
    timeoutSeconds:
      timeoutMs === undefined || timeoutMs === 0 ? 0 : Math.min(Math.ceil(timeoutMs / 1000), 2 ** 31 - 1),
    fastMode: fastMode ?? false,
    maxMatchesPerString: maxMatchesPerString ?? DEFAULT_MAX_MATCHES_PER_STRING,
    maxMatchesPerScan: maxMatchesPerScan ?? DEFAULT_MAX_MATCHES_PER_SCAN,
    ...(externals === undefined ? {} : { externals }),
  };
}

/**
 * Compiled YARA rules. Scans run on the libuv thread pool, many at once; beyond libyara's limit of
 * concurrent scans per rules object (32) further scans wait in a queue. Note that each running scan holds
 * a thread-pool thread (UV_THREADPOOL_SIZE, default 4), which fs and crypto calls share.
 */
export class YaraRules {
  readonly #native: NativeRules;
  readonly #maxConcurrent: number;
  #running = 0;
  readonly #waiting: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  #destroyed = false;

  /** @internal Built by compileRules() and loadRules(). */
  constructor(nativeRules: NativeRules) {
    this.#native = nativeRules;
    this.#maxConcurrent = native().maxConcurrentScans;
  }

  /** Number of rules, private and global ones included. */
  get ruleCount(): number {
    return this.#native.ruleCount;
  }

  /** Scans started and not finished, queued ones included. */
  get pendingScans(): number {
    return this.#running + this.#waiting.length;
  }

  /**
   * Scans a buffer. The buffer is referenced until the scan ends; do not change its bytes meanwhile.
   * Resolves with `timedOut: true` on timeout; rejects with a {@link YaraError} on other failures.
   */
  scanBuffer(buffer: Uint8Array, options?: ScanOptions): Promise<ScanResult> {
    const nativeOptions = toNativeOptions(options);
    return this.#schedule(() => this.#native.scanBuffer(buffer, nativeOptions));
  }

  /**
   * Scans a regular file through libyara's mmap (an empty file is scanned as an empty buffer). The file
   * must not shrink during the scan (as with any mmap reader, that would fault).
   */
  scanFile(path: string, options?: ScanOptions): Promise<ScanResult> {
    const nativeOptions = toNativeOptions(options);
    return this.#schedule(() => this.#native.scanFile(path, nativeOptions));
  }

  /** Writes the compiled rules (yr_rules_save) for {@link loadRules}; only valid for this libyara version. */
  save(path: string): void {
    this.#assertAlive();
    try {
      this.#native.save(path);
    } catch (error) {
      throw toYaraError(error);
    }
  }

  /**
   * Frees the rules now instead of at garbage collection. Scans already running finish first; queued
   * and later scans reject with `YARA_ERROR_RULES_DESTROYED`.
   */
  destroy(): void {
    this.#destroyed = true;
    this.#native.destroy();
    for (const waiter of this.#waiting.splice(0)) {
      waiter.reject(new YaraError('the rules were destroyed', 'YARA_ERROR_RULES_DESTROYED'));
    }
  }

  #assertAlive(): void {
    if (this.#destroyed) throw new YaraError('the rules were destroyed', 'YARA_ERROR_RULES_DESTROYED');
  }

  async #schedule(scan: () => Promise<ScanResult>): Promise<ScanResult> {
    this.#assertAlive();
    if (this.#running < this.#maxConcurrent) {
      this.#running++;
    } else {
      // A finishing scan hands its slot straight to the next waiter, so #running never overshoots.
      await new Promise<void>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    }
    try {
      return await scan();
    } catch (error) {
      throw toYaraError(error);
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#running--;
      else next.resolve();
    }
  }
}
