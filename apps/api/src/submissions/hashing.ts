import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { Digests } from '#contracts';
import { bodyBytesConsumed } from '../http/buffer-garbage.js';
import type { HashReply, HashRequest } from './hash-protocol.js';

/** Bytes a session may have in flight to its hashing thread before the stream waits (bounds memory). */
const MAX_IN_FLIGHT = 4 * 1024 * 1024;
/**
 * Bytes go to the hashing thread in slabs of this size, copied in and reused: not a fresh copy per chunk
 * (64 KiB from a socket), whose allocation, per-chunk message and garbage cost more than the hashing.
 */
const SLAB_BYTES = 256 * 1024;
/**
 * Idle slabs kept for reuse (the rest are left to the garbage collector): one upload's MAX_IN_FLIGHT and
 * a few more. It was 64 (16 MiB), which a burst of parallel uploads filled and the API then held for good:
 * after 20 parallel 1 MiB uploads over S3 the process held 202–205 MB with 64 (one run), 193–201 with 20 (two).
 */
const MAX_FREE_SLABS = 20;

const freeSlabs: ArrayBuffer[] = [];
const takeSlab = (): ArrayBuffer => freeSlabs.pop() ?? new ArrayBuffer(SLAB_BYTES);
const giveSlab = (slab: ArrayBuffer): void => {
  if (slab.byteLength === SLAB_BYTES && freeSlabs.length < MAX_FREE_SLABS) freeSlabs.push(slab);
};

interface Session {
  onAck: (bytes: number) => void;
  onDigests: (digests: Digests) => void;
  onError: (error: Error) => void;
}

/**
 * Threads that hash upload bytes. Hashing md5+sha1+sha256 costs ~3 ns a byte (325 MB/s here); on the
 * event loop it was the largest single cost of an upload, so it runs beside it and the loop only copies.
 */
class HashPool {
  private readonly workers = new Map<number, Worker>();
  private readonly sessions = new Map<number, Session>();
  private readonly openPerWorker = new Map<Worker, number>();
  private nextId = 1;

  constructor(private readonly size: number) {}

  private worker(id: number): Worker {
    const index = id % this.size;
    let worker = this.workers.get(index);
    if (worker === undefined) {
      worker = new Worker(new URL('./hash.worker.js', import.meta.url));
      worker.on('message', (reply: HashReply) => {
        if (reply.type === 'ack') giveSlab(reply.data);
        const session = this.sessions.get(reply.id);
        if (session === undefined) return;
        if (reply.type === 'ack') session.onAck(reply.bytes);
        else {
          this.close(reply.id);
          session.onDigests(reply.digests);
        }
      });
      const fail = (error: Error) => {
        this.workers.delete(index);
        for (const [sid, session] of this.sessions) {
          if (sid % this.size === index) {
            this.close(sid);
            session.onError(new Error('the hashing thread failed', { cause: error }));
          }
        }
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
      this.workers.set(index, worker);
    }
    return worker;
  }

  open(session: Session): number {
    const id = this.nextId++;
    this.sessions.set(id, session);
    // Open sessions keep the process alive; idle threads do not.
    const worker = this.worker(id);
    this.openPerWorker.set(worker, (this.openPerWorker.get(worker) ?? 0) + 1);
    worker.ref();
    return id;
  }

  private close(id: number): void {
    if (!this.sessions.delete(id)) return;
    const worker = this.workers.get(id % this.size);
    if (worker === undefined) return;
    const open = (this.openPerWorker.get(worker) ?? 1) - 1;
    this.openPerWorker.set(worker, open);
    if (open === 0) worker.unref();
  }

  send(message: HashRequest, transfer?: ArrayBuffer[]): void {
    this.worker(message.id).postMessage(message, transfer);
    if (message.type === 'abort') this.close(message.id);
  }
}

let pool: HashPool | undefined;
const hashPool = (): HashPool =>
  (pool ??= new HashPool(Math.max(1, Math.min(4, availableParallelism() - 1))));

/**
 * A pass-through stream that computes md5, sha1 and sha256 and counts bytes in one pass. Bytes go on
 * at once; a copy goes to a hashing thread in slabs, and the stream ends only when the digests are back.
 */
export class HashingStream extends Transform {
  private readonly id: number;
  private inFlight = 0;
  private waiting: (() => void) | null = null;
  private finish: ((digests: Digests) => void) | null = null;
  private result: Digests | null = null;
  private failure: Error | null = null;
  /** The slab being filled, and how many of its bytes are filled. */
  private slab: Uint8Array | null = null;
  private filled = 0;

  constructor() {
    super();
    this.id = hashPool().open({
      onAck: (bytes) => {
        this.inFlight -= bytes;
        if (this.waiting !== null && this.inFlight <= MAX_IN_FLIGHT) {
          const resume = this.waiting;
          this.waiting = null;
          resume();
        }
      },
      onDigests: (digests) => {
        this.result = digests;
        this.finish?.(digests);
      },
      onError: (error) => {
        this.failure = error;
        this.destroy(error);
      },
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    // A copy of these bytes goes into slabs: the original goes on down the pipe untouched.
    let offset = 0;
    while (offset < chunk.length) {
      this.slab ??= new Uint8Array(takeSlab());
      const n = Math.min(SLAB_BYTES - this.filled, chunk.length - offset);
      this.slab.set(n === chunk.length ? chunk : chunk.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === SLAB_BYTES) this.sendSlab();
    }
    this.push(chunk);
    bodyBytesConsumed(chunk.length);
    if (this.inFlight > MAX_IN_FLIGHT) this.waiting = () => callback();
    else callback();
  }

  private sendSlab(): void {
    if (this.slab === null) return;
    const data = this.slab.buffer as ArrayBuffer;
    hashPool().send({ type: 'update', id: this.id, data, length: this.filled }, [data]);
    this.inFlight += this.filled;
    this.slab = null;
    this.filled = 0;
  }

  override _flush(callback: TransformCallback): void {
    if (this.failure !== null) return callback(this.failure);
    if (this.filled > 0) this.sendSlab();
    this.finish = () => callback();
    hashPool().send({ type: 'end', id: this.id });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.result === null) hashPool().send({ type: 'abort', id: this.id });
    if (this.slab !== null) giveSlab(this.slab.buffer as ArrayBuffer);
    this.slab = null;
    callback(error);
  }

  /** Valid once the stream has ended. */
  digests(): Digests {
    if (this.result === null) throw new Error('digests are known only once the stream has ended');
    return this.result;
  }
}
