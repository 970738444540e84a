import { type Readable } from 'node:stream';

/** What {@link ObjectStore.stat} and {@link ObjectStore.list} report about one stored object. */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
}

/** Options of {@link ObjectStore.put}. */
export interface PutOptions {
  /**
   * Expected length in bytes, when known. `put` rejects with SpecimenError SIZE_MISMATCH (and stores
   * nothing) if the body is shorter or longer.
   */
  size?: number;
  /**
   * Aborting before the object is committed makes `put` reject with `signal.reason`, destroys the
   * body and leaves nothing behind. An abort after the commit has started is ignored.
   */
  signal?: AbortSignal;
  /**
   * The body's sha256 (lowercase hex), asked for once the body has ended. A driver that signs the hash of
   * what it sends (S3 over plain HTTP) may take it instead of hashing the bytes once more; the server
   * refuses the object if it does not match them.
   */
  sha256?: () => string;
}

/** An inclusive byte range; `end` defaults to the last byte and is clamped to it. */
export interface ByteRange {
  start: number;
  end?: number;
}

/**
 * Object storage for samples and temporary uploads. Two drivers implement it (`fs` and `s3`) and pass
 * one contract suite. Keys are `/`-separated segments of `[A-Za-z0-9_][A-Za-z0-9._-]*`; any other key
 * is refused with SpecimenError VALIDATION_FAILED, which also rules out path traversal.
 */
export interface ObjectStore {
  readonly driver: 'fs' | 's3';
  /**
   * Streams `body` to `key`, replacing any object there. Resolves once stored. On a body error, a
   * storage error or an abort it rejects, destroys the body and leaves no object (and no partial
   * file) behind. Never buffers a whole object: memory is bounded by the S3 part size.
   */
  put(key: string, body: Readable, options?: PutOptions): Promise<{ size: number }>;
  /**
   * A Readable of the object, or of the inclusive byte range (a range starting past the end gives an
   * empty stream). Throws SpecimenError NOT_FOUND if the object is absent.
   */
  get(key: string, range?: ByteRange): Promise<Readable>;
  /** Size and modification time, or null if the object is absent. */
  stat(key: string): Promise<ObjectInfo | null>;
  /** Removes the object; deleting an absent key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Moves a temporary object to its final key. If `to` already exists, deletes `from` and returns
   * 'existed'; otherwise 'moved'. Throws NOT_FOUND if `from` is absent. Atomic on fs (hard link then
   * unlink); on S3 a server-side copy then delete. Never exposes a partial object under `to`. With
   * `keepSource`, `from` stays (the caller deletes it): a copy to promote again if `to` is deleted meanwhile.
   */
  promote(from: string, to: string, options?: { keepSource?: boolean }): Promise<'moved' | 'existed'>;
  /**
   * Every object whose key starts with `prefix` (a plain string prefix, as in S3), in no particular
   * order. An empty prefix lists everything.
   */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * Absolute local path when the driver keeps objects on this machine's filesystem (so the scanner can
   * mmap), else null. Does not check that the object exists.
   */
  localPath(key: string): string | null;
  /** Throws SpecimenError STORAGE_UNAVAILABLE when the backend cannot be reached (for readiness checks). */
  ping(): Promise<void>;
}
