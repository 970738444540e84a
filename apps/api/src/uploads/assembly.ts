import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digests } from '#contracts';
import type { UploadRecord } from '#database';
import { type ObjectStore, incomingKey, uploadPartKey } from '#storage';
import { HashingStream } from '../submissions/hashing.js';
import { type ReceivedFile, hashIntoIncoming } from '../submissions/upload.engine.js';
import { linkFile } from './stream-file.js';

type Assembled = Omit<ReceivedFile, 'metadata'>;

interface Assembly {
  /** Bytes fed so far: the upload's offset while the chunks keep arriving here, in order. */
  offset: number;
  feed: PassThrough;
  abort: AbortController;
  /** The assembled object (or, streaming, only the digests: the bytes are in `streamKey`). */
  result: Promise<Assembled | Digests>;
  /** Streaming: the object every chunk of this assembly is written into by its PATCH. */
  streamKey: string | null;
  /** A PATCH is feeding it now. */
  busy: boolean;
  /** The upload as the last committed chunk left it (the row its conditional update returned). */
  upload: UploadRecord | null;
  lastUsed: number;
}

/** What a PATCH does with its chunk's bytes when the upload is being assembled in this process. */
export interface AssemblyFeed {
  /**
   * Where the PATCH stores its chunk when the upload is streamed (fs driver): this object, from the
   * chunk's offset on, instead of a part object of its own. Null: a part object as usual.
   */
  readonly streamKey: string | null;
  write(chunk: Buffer): void;
  /**
   * The chunk is stored and the offset moved (`upload`: the row as that left it): the assembly goes on
   * from the new offset.
   */
  commit(bytes: number, upload?: UploadRecord): Promise<void>;
  /** The chunk was refused or failed: the assembly is dropped (the upload is then reassembled from its parts). */
  discard(): void;
}

/**
 * Assembles resumable uploads while their chunks arrive. Each chunk of an upload that began in this
 * process is also streamed, in order, through the same hashing into an `incoming/` object as the
 * multipart path ({@link hashIntoIncoming}), so the last PATCH only ends that stream instead of reading
 * every part back, hashing it and writing it again (measured: about a third of a 256 MiB tus upload).
 * The parts are still stored one by one and stay the record a resumed upload relies on: whenever this
 * process cannot follow (a chunk failed or was refused, the upload moved to another replica or was
 * resumed after a restart, too many uploads at once), the assembly is dropped, its temporary object is
 * removed, and the finish reassembles from the parts as before.
 *
 * Streaming (`streams`, for the fs driver, where objects are local files): the bytes are not written
 * twice. Each PATCH of an assembly writes its chunk into one file of the assembly's own
 * ({@link AssemblyFeed.streamKey}, under `uploads/<id>/`, fsynced per chunk as a part is) and records
 * the part as that byte range of it; the assembly only hashes the bytes as they pass. The finish links
 * that file under `incoming/`, so the last PATCH neither copies nor rereads anything. Dropped, the file
 * stays: the parts recorded in it are read back from it by a reassembly, and go with the upload's other
 * parts.
 */
export class UploadAssemblies {
  private readonly assemblies = new Map<string, Assembly>();
  /** Dropped assemblies still removing their temporary objects. */
  private readonly dropping = new Set<Promise<unknown>>();

  constructor(
    private readonly store: ObjectStore,
    private readonly maxOpen: number,
    /** An assembly not fed for this long gives its place to a new upload when all places are taken. */
    private readonly idleMs: number,
    private readonly now: () => number = Date.now,
    /** Chunks go into one local file per assembly (fs driver only: see the class comment). */
    private readonly streams = false,
  ) {}

  get open(): number {
    return this.assemblies.size;
  }

  /**
   * The feed for a chunk at `offset` of upload `id`, or null when this chunk cannot be assembled here:
   * the first chunk starts an assembly, a later one continues it only if it is exactly the next one.
   */
  feed(id: string, offset: number): AssemblyFeed | null {
    let assembly = this.assemblies.get(id);
    if (assembly !== undefined && (assembly.busy || assembly.offset !== offset)) {
      this.drop(id);
      return null;
    }
    if (assembly === undefined) {
      if (offset !== 0) return null;
      if (this.assemblies.size >= this.maxOpen) this.dropIdle(this.idleMs);
      if (this.assemblies.size >= this.maxOpen) return null;
      const feed = new PassThrough({ highWaterMark: 1024 * 1024 });
      const abort = new AbortController();
      const streamKey = this.streams ? uploadPartKey(id, 0, `stream${randomBytes(6).toString('hex')}`) : null;
      const result =
        streamKey === null ? hashIntoIncoming(this.store, feed, abort.signal) : hashOnly(feed, abort.signal);
      // Awaited at the finish, or dropped: a failure then only means the parts are reassembled.
      result.catch(() => undefined);
      assembly = {
        offset: 0,
        feed,
        abort,
        result,
        streamKey,
        busy: false,
        upload: null,
        lastUsed: this.now(),
      };
      this.assemblies.set(id, assembly);
    }
    const current = assembly;
    current.busy = true;
    current.lastUsed = this.now();
    return {
      streamKey: current.streamKey,
      write: (chunk) => {
        current.lastUsed = this.now();
        current.feed.write(chunk);
      },
      commit: async (bytes, upload) => {
        current.offset += bytes;
        current.upload = upload ?? null;
        current.busy = false;
        current.lastUsed = this.now();
        // At most about one chunk waits in memory: the next PATCH is answered once the assembly caught up.
        if (current.feed.writableNeedDrain) {
          await Promise.race([once(current.feed, 'drain'), current.result.then(() => undefined)]).catch(
            () => undefined,
          );
        }
      },
      discard: () => {
        if (this.assemblies.get(id) === current) this.drop(id);
      },
    };
  }

  /**
   * The upload as the last chunk committed here left it, when a chunk at `offset` would continue its
   * assembly (none is being fed, and the assembly is at `offset`); null otherwise.
   */
  inStep(id: string, offset: number): UploadRecord | null {
    const assembly = this.assemblies.get(id);
    if (assembly === undefined || assembly.busy || assembly.offset !== offset) return null;
    return assembly.upload?.offset === offset ? assembly.upload : null;
  }

  /**
   * The assembled object of a finished upload of `length` bytes, or null when it was not assembled here
   * (or the assembly failed): the caller then reassembles from the parts.
   */
  async finish(id: string, length: number): Promise<Assembled | null> {
    const assembly = this.assemblies.get(id);
    if (assembly === undefined) return null;
    if (assembly.busy || assembly.offset !== length) {
      this.drop(id);
      return null;
    }
    this.assemblies.delete(id);
    assembly.feed.end();
    try {
      const result = await assembly.result;
      if ('tempKey' in result) return result;
      return await this.linkStream(assembly.streamKey, result, length);
    } catch {
      return null;
    }
  }

  /** A streamed upload's file under a fresh `incoming/` key too, once it holds exactly `length` bytes. */
  private async linkStream(
    streamKey: string | null,
    digests: Digests,
    length: number,
  ): Promise<Assembled | null> {
    const from = streamKey === null ? null : this.store.localPath(streamKey);
    if (streamKey === null || from === null || digests.size !== length) return null;
    if ((await this.store.stat(streamKey))?.size !== length) return null;
    const tempKey = incomingKey(randomUUID());
    const to = this.store.localPath(tempKey);
    if (to === null) return null;
    await linkFile(from, to);
    return { tempKey, digests };
  }

  /** Drops the assembly of `id` (terminated, expired, or out of step); its temporary object is removed. */
  drop(id: string): void {
    const assembly = this.assemblies.get(id);
    if (assembly === undefined) return;
    this.assemblies.delete(id);
    assembly.abort.abort(new Error('upload assembly dropped'));
    const settled = assembly.result.then(
      () => undefined,
      () => undefined,
    );
    this.dropping.add(settled);
    void settled.finally(() => this.dropping.delete(settled));
  }

  /**
   * Drops assemblies not fed for `idleMs` (their uploads stalled or went elsewhere, or a PATCH hangs);
   * returns how many. A PATCH still feeding a dropped one goes on; only the finish reassembles.
   */
  dropIdle(idleMs: number): number {
    let dropped = 0;
    for (const [id, assembly] of this.assemblies) {
      if (this.now() - assembly.lastUsed >= idleMs) {
        this.drop(id);
        dropped++;
      }
    }
    return dropped;
  }

  /** Drops every assembly and waits until their temporary objects are gone (shutdown). */
  async close(): Promise<void> {
    for (const id of [...this.assemblies.keys()]) this.drop(id);
    await Promise.all(this.dropping);
  }
}

/** The digests of what goes through `feed`, the bytes themselves going nowhere (streaming assemblies). */
async function hashOnly(feed: PassThrough, signal: AbortSignal): Promise<Digests> {
  const hashing = new HashingStream();
  hashing.on('error', () => undefined);
  feed.on('error', (e) => hashing.destroy(e));
  feed.pipe(hashing);
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  await pipeline(hashing, sink, { signal });
  return hashing.digests();
}
