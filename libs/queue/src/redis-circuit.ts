import { Redis } from 'ioredis';
import { SpecimenError } from '#contracts';
import { isConnectionFailure } from './connection-errors.js';

/**
 * While Redis is unreachable: how often the circuit checks whether it answers again, and how often
 * connections try to reconnect (a refused connect costs next to nothing; a late one delays recovery).
 */
export const REDIS_RETRY_EVERY_MS = 500;

/**
 * The ioredis `retryStrategy` of the connections a circuit guards: soon after a drop (the first failed
 * attempt is what opens the circuit), then every {@link REDIS_RETRY_EVERY_MS}. The defaults back off
 * (ioredis to 2 s, BullMQ to 20 s): once the circuit closed, a command waited that long in the offline
 * queue of a connection not yet back, past its deadline, and opened the circuit again.
 */
export const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, REDIS_RETRY_EVERY_MS);

/** How long a probe's PING may take before it counts as no answer. */
const PROBE_DEADLINE_MS = 2_000;

/** Retry-After of a QUEUE_UNAVAILABLE answer. */
const QUEUE_RETRY_AFTER_SECONDS = 5;

/** How a circuit finds out that Redis answers again. */
export interface RedisProbe {
  /** Resolves when Redis answered, rejects otherwise (soon: a probe runs while requests are answered). */
  ping(): Promise<void>;
  close(): void;
}

/** What a circuit's owner hears: Redis became unreachable (with why), or answers again (after how long). */
export interface RedisCircuitEvents {
  onOpen?(failure: Error): void;
  onClose?(downForMs: number): void;
}

/**
 * Whether Redis is known to be unreachable, shared by every Redis user of a process, so that while it is
 * down a request takes its no-Redis path at once instead of waiting out a deadline on each connection
 * (up to 1 s for a rate limit, 3 s for the scan backlog, an enqueue or a lookup's sightings: uploads and
 * lookups took 1-4 s each).
 *
 * Opens on the first connection failure reported by a user: a command's (its deadline included) or a
 * connection's `error` event, which ioredis emits on each failed reconnect attempt, usually before any
 * request has found out. Other errors (a command Redis refused) do not open it. While open, no command is
 * sent, so nothing piles up in ioredis' offline queues; one probe at a time (a PING) runs, the first at once
 * (a single dropped connection closes the circuit again within a round trip), then every
 * {@link REDIS_RETRY_EVERY_MS}, and the first that is answered closes it. A command that succeeds closes it
 * too (Redis answered).
 */
export class RedisCircuit {
  private failure: Error | null = null;
  private openedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private stopped = false;

  constructor(
    private readonly probe: RedisProbe,
    private readonly events: RedisCircuitEvents = {},
    private readonly probeEveryMs = REDIS_RETRY_EVERY_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A circuit whose probe PINGs Redis at `url` on a connection of its own (made at the first outage),
   * also as soon as that connection is back rather than at the next period.
   */
  static forUrl(url: string, events: RedisCircuitEvents = {}): RedisCircuit {
    const circuit: RedisCircuit = new RedisCircuit(new PingProbe(url, () => circuit.probeNow()), events);
    return circuit;
  }

  /** Why Redis is believed unreachable; null while it is believed reachable. */
  get unreachable(): Error | null {
    return this.failure;
  }

  /**
   * Throws QUEUE_UNAVAILABLE (`message`, Retry-After, the failure that opened the circuit as its cause) at
   * once while Redis is known to be unreachable.
   */
  check(message: string): void {
    if (this.failure !== null) throw unavailable(message, this.failure);
  }

  /** Reports an error seen on a Redis connection or command: a connection failure opens the circuit. */
  failed(e: unknown): void {
    if (this.stopped || this.failure !== null || !isConnectionFailure(e)) return;
    this.failure = e instanceof Error ? e : new Error(String(e));
    this.openedAt = this.now();
    this.events.onOpen?.(this.failure);
    // The first probe at once: one connection dropped (a proxy or a firewall closing an idle socket) is not
    // Redis down, and requests would be refused for a whole period while the probe's own connection answers.
    void this.runProbe();
  }

  /** Reports that Redis answered a command: the circuit closes. */
  succeeded(): void {
    if (this.failure === null) return;
    this.failure = null;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.events.onClose?.(this.now() - this.openedAt);
  }

  /** Probes now rather than at the next period (while open, unless a probe is running). */
  probeNow(): void {
    if (this.stopped || this.failure === null || this.probing) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.runProbe();
  }

  /** No more probes (the process is shutting down). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.probe.close();
  }

  /** The next probe, unless one is due or running (it schedules the next itself). */
  private scheduleProbe(): void {
    if (this.stopped || this.probing || this.timer !== undefined) return;
    // unref: a probe never keeps a process alive.
    this.timer = setTimeout(() => void this.runProbe(), this.probeEveryMs).unref();
  }

  private async runProbe(): Promise<void> {
    this.timer = undefined;
    this.probing = true;
    let answered = false;
    try {
      await this.probe.ping();
      answered = true;
    } catch {
      // Still unreachable: the next probe below.
    } finally {
      this.probing = false;
    }
    if (answered) this.succeeded();
    else if (this.failure !== null) this.scheduleProbe();
  }
}

/**
 * `call`, or a rejection with `timeoutMessage` once `ms` have passed without its answer; the timer never
 * outlives the call, and a late rejection of `call` is dropped (its outcome no longer matters).
 */
export async function withinDeadline<T>(call: Promise<T>, ms: number, timeoutMessage: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      call,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(timeoutMessage)), ms);
      }),
    ]);
  } catch (e) {
    call.catch(() => undefined);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A Redis command from a request path, through `circuit` when there is one: refused at once
 * (QUEUE_UNAVAILABLE `message`) while it knows Redis to be down; else `command`'s answer within `deadlineMs`,
 * its outcome reported to the circuit, a failure rejecting with QUEUE_UNAVAILABLE `message` (Retry-After).
 */
export async function guardedCall<T>(
  circuit: RedisCircuit | undefined,
  message: string,
  deadlineMs: number,
  command: () => Promise<T>,
): Promise<T> {
  circuit?.check(message);
  const call = command();
  try {
    const result = await withinDeadline(call, deadlineMs, `no answer from Redis within ${deadlineMs} ms`);
    circuit?.succeeded();
    return result;
  } catch (e) {
    circuit?.failed(e);
    throw unavailable(message, e);
  }
}

/** QUEUE_UNAVAILABLE with Retry-After, keeping what Redis did as its cause. */
function unavailable(message: string, cause: unknown): SpecimenError {
  // A client may ask again in a few seconds (agents honour Retry-After); the outage may last longer.
  return new SpecimenError('QUEUE_UNAVAILABLE', message, undefined, {
    cause,
    retryAfterSeconds: QUEUE_RETRY_AFTER_SECONDS,
  });
}

/** PING on a connection of its own that never queues a command while it is not connected. */
class PingProbe implements RedisProbe {
  private redis: Redis | null = null;

  constructor(
    private readonly url: string,
    private readonly onReady: () => void,
  ) {}

  async ping(): Promise<void> {
    this.redis ??= this.connect();
    if (this.redis.status !== 'ready') throw new Error(`Redis connection ${this.redis.status}`);
    await withinDeadline(this.redis.ping(), PROBE_DEADLINE_MS, 'no answer to PING');
  }

  private connect(): Redis {
    const redis = new Redis(this.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: PROBE_DEADLINE_MS,
      retryStrategy: reconnectDelay,
    });
    // Its failures are what the probe is for; without a listener ioredis prints them as unhandled.
    redis.on('error', () => undefined);
    redis.on('ready', this.onReady);
    return redis;
  }

  close(): void {
    this.redis?.disconnect();
    this.redis = null;
  }
}
