import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { QueueConnection } from './queue.js';
import { publishWithin } from './publisher.js';
import { type RedisCircuit, reconnectDelay } from './redis-circuit.js';

/** What changed about who a bearer token is: one token, or every token of an agent. */
export type PrincipalChange = { tokenId: string } | { agentId: string };

/** The pub/sub channel of principal changes: under the deployment's prefix, so test runs do not cross. */
export const principalChannel = (prefix: string): string => `${prefix}:auth:changes`;

/** Where one replica hears that the others have applied its changes. */
const ackChannel = (prefix: string, replica: string): string => `${prefix}:auth:acks:${replica}`;

/** How long a change waits for the replicas that received it to say they applied it. */
const ACK_DEADLINE_MS = 1_000;

/**
 * A change on the wire: who sent it (where to acknowledge) and its id there. Both absent in a message from
 * a replica of a version before acknowledgements (during a rolling upgrade): applied, not acknowledged.
 */
interface ChangeMessage {
  change: PrincipalChange;
  sender: { replica: string; id: string } | null;
}

function parseMessage(message: string): ChangeMessage | null {
  try {
    const value = JSON.parse(message) as {
      tokenId?: unknown;
      agentId?: unknown;
      replica?: unknown;
      id?: unknown;
    };
    const sender =
      typeof value.replica === 'string' && typeof value.id === 'string'
        ? { replica: value.replica, id: value.id }
        : null;
    if (typeof value.tokenId === 'string') return { change: { tokenId: value.tokenId }, sender };
    if (typeof value.agentId === 'string') return { change: { agentId: value.agentId }, sender };
  } catch {
    // A message that is not ours is ignored below.
  }
  return null;
}

export interface PrincipalEventsHandlers {
  /** Apply the change (drop what is cached of it); it is acknowledged once this returns. */
  onChange(change: PrincipalChange): void;
  /** Subscribed (again): from now on no change is missed. */
  onListening(): void;
  /** The connection broke or is not up yet: changes may be missed from now until the next onListening. */
  onDeaf(): void;
}

/** What {@link PrincipalEvents.publish} found: how many replicas received the change and applied it in time. */
export interface Delivery {
  receivers: number;
  applied: number;
}

interface Pending {
  /** Infinity until PUBLISH answers with the count. */
  receivers: number;
  /**
   * The replicas that applied it, this one included: counted by name, as a message can come twice (a
   * PUBLISH resent after a lost reply) and its answers with it.
   */
  applied: Set<string>;
  done: (applied: number) => void;
}

/**
 * Principal changes (token or agent revoked, consent changed) between API replicas over Redis pub/sub.
 *
 * {@link publish} resolves only once every replica that received the change has applied it, so the
 * client's next request finds it applied wherever it lands. Waiting for PUBLISH's own reply is not enough:
 * Redis may write that reply before the other subscribers' copies of the message, and a busy machine can
 * run the client's next request on another replica in between (seen once in about ten CI runs). Each
 * replica answers on a channel of the sender's own once its handler has run; the sender waits for as many
 * answers as PUBLISH counted receivers, at most {@link ACK_DEADLINE_MS}: when answers cannot reach it
 * (its own subscription down), it waits that long.
 *
 * Pub/sub delivers only to subscribers connected at that moment, so the caller hears when it may have
 * missed changes (`onDeaf`) and when it hears everything again (`onListening`, called only once the
 * SUBSCRIBE is answered, not at mere reconnection). Reconnects by itself.
 */
export class PrincipalEvents {
  /** Commands: PUBLISH of changes and acknowledgements. Fails fast: a request must not hang on Redis. */
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly replica = randomUUID();
  private readonly channel: string;
  private readonly acks: string;
  private readonly pending = new Map<string, Pending>();
  private closing = false;

  private readonly ackDeadlineMs: number;
  private readonly circuit: RedisCircuit | undefined;

  /**
   * `circuit`: the process' view of Redis; publishing fails at once while it knows Redis to be down, and
   * both connections' failures tell it.
   */
  constructor(
    private readonly connection: QueueConnection,
    private readonly handlers: PrincipalEventsHandlers,
    options: { ackDeadlineMs?: number; circuit?: RedisCircuit } = {},
  ) {
    this.ackDeadlineMs = options.ackDeadlineMs ?? ACK_DEADLINE_MS;
    this.circuit = options.circuit;
    this.channel = principalChannel(connection.prefix);
    this.acks = ackChannel(connection.prefix, this.replica);
    this.publisher = new Redis(connection.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      retryStrategy: reconnectDelay,
      // A PUBLISH whose reply was lost fails (and is logged) rather than going out twice.
      autoResendUnfulfilledCommands: false,
    });
    this.publisher.on('error', (e) => this.circuit?.failed(e));
    // Resubscribed by hand on 'ready', so onListening waits for the SUBSCRIBE's answer.
    this.subscriber = new Redis(connection.url, {
      maxRetriesPerRequest: null,
      lazyConnect: true,
      autoResubscribe: false,
      retryStrategy: reconnectDelay,
      // Named, so an operator (or a test) can tell these connections apart in CLIENT LIST.
      connectionName: `${connection.prefix}:auth-subscriber`,
    });
    this.subscriber.on('message', (from: string, message: string) => this.heard(from, message));
    this.subscriber.on('error', (e) => {
      this.circuit?.failed(e);
      this.deaf();
    });
    this.subscriber.on('close', () => this.deaf());
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(this.channel, this.acks).then(
        () => {
          if (!this.closing) handlers.onListening();
        },
        () => this.deaf(),
      );
    });
  }

  /** Starts connecting; does not wait, so the API starts (with every request checked in PostgreSQL) while Redis is down. */
  start(): void {
    this.subscriber.connect().catch(() => undefined);
  }

  /**
   * Tells every replica, and resolves once those that received it have applied it (or the deadline has
   * passed: a replica may have died in between). Rejects when Redis does not take the message.
   */
  async publish(change: PrincipalChange): Promise<Delivery> {
    const id = randomUUID();
    const message = JSON.stringify({ ...change, replica: this.replica, id });
    let timer: NodeJS.Timeout | undefined;
    // Registered before the PUBLISH: answers may come before its reply. Not listening, no answer can
    // reach us: the others get the deadline to apply it.
    const applied = new Promise<number>((resolve) => {
      this.pending.set(id, { receivers: Infinity, applied: new Set(), done: resolve });
      timer = setTimeout(() => this.settle(id), this.ackDeadlineMs);
    });
    try {
      const receivers = await publishWithin(this.publisher, this.channel, message, this.circuit);
      const entry = this.pending.get(id);
      if (entry !== undefined) {
        entry.receivers = receivers;
        if (entry.applied.size >= receivers) this.settle(id);
      }
      return { receivers, applied: await applied };
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
  }

  /**
   * Stops hearing changes first (Redis stops counting this replica as a receiver), then lets the answers
   * already queued on the publisher go out, so no sender waits out its deadline for us.
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const id of [...this.pending.keys()]) this.settle(id);
    await quitOrDisconnect(this.subscriber);
    await quitOrDisconnect(this.publisher);
  }

  private heard(from: string, message: string): void {
    if (from === this.acks) {
      const [id = '', replica = ''] = message.split(' ');
      this.applied(id, replica);
      return;
    }
    if (from !== this.channel) return;
    const parsed = parseMessage(message);
    if (parsed === null) return;
    this.handlers.onChange(parsed.change);
    const { sender } = parsed;
    if (sender === null) return;
    if (sender.replica === this.replica) {
      // Our own change, heard back: counted here, no round trip.
      this.applied(sender.id, this.replica);
      return;
    }
    publishWithin(
      this.publisher,
      ackChannel(this.connection.prefix, sender.replica),
      `${sender.id} ${this.replica}`,
      this.circuit,
    ).catch(
      () => undefined, // the sender stops waiting at its deadline
    );
  }

  private applied(id: string, replica: string): void {
    const entry = this.pending.get(id);
    if (entry === undefined || replica === '') return;
    entry.applied.add(replica);
    if (entry.applied.size >= entry.receivers) this.settle(id);
  }

  /**
   * Answers may no longer reach us. Those waiting keep waiting out their deadline: the other replicas may
   * still be applying their changes.
   */
  private deaf(): void {
    this.handlers.onDeaf();
  }

  private settle(id: string): void {
    const entry = this.pending.get(id);
    if (entry === undefined) return;
    this.pending.delete(id);
    entry.done(entry.applied.size);
  }
}

/** QUIT on a live connection (what is queued goes out first); otherwise just drop it. */
async function quitOrDisconnect(redis: Redis): Promise<void> {
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  await redis.quit().then(
    () => undefined,
    () => redis.disconnect(),
  );
}
