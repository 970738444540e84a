import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Request } from 'express';
import type { StorageEngine } from 'multer';
import { type Digests, SpecimenError, SubmissionMetadata } from '#contracts';
import { type ObjectStore, incomingKey } from '#storage';
import { parseOrThrow } from '../http/validation.js';
import { HashingStream } from './hashing.js';

/** What the engine adds to multer's file object once the bytes are in a temporary object. */
export interface ReceivedFile {
  tempKey: string;
  digests: Digests;
  metadata: SubmissionMetadata;
}

/** The metadata part, parsed and validated before a byte of the file is stored. */
export function metadataFromBody(body: unknown): SubmissionMetadata {
  const raw = (body as Record<string, unknown> | undefined)?.metadata;
  if (typeof raw !== 'string') {
    throw new SpecimenError('VALIDATION_FAILED', 'the "metadata" part must come before the "file" part', {
      issues: [{ field: 'metadata', message: 'required, before the file part' }],
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new SpecimenError('VALIDATION_FAILED', 'the "metadata" part is not valid JSON', {
      issues: [{ field: 'metadata', message: 'not valid JSON' }],
    });
  }
  return parseOrThrow(SubmissionMetadata, json, 'metadata');
}

/**
 * Streams `source` into a fresh temporary object under `incoming/` while hashing it (md5, sha1, sha256 in
 * one pass). Both ingest paths go through here and then {@link SubmissionsService.accept}: the multipart
 * file part, and the concatenated parts of a finished resumable upload.
 */
export async function hashIntoIncoming(
  store: ObjectStore,
  source: Readable,
  signal?: AbortSignal,
): Promise<Omit<ReceivedFile, 'metadata'>> {
  const hashing = new HashingStream();
  // put() reports a body failure through its promise; this listener only keeps a late error (busboy's
  // "Unexpected end of form" after put settled) from being an unhandled 'error' event that kills the process.
  hashing.on('error', () => undefined);
  source.on('error', (e) => hashing.destroy(e));
  source.pipe(hashing);
  const tempKey = incomingKey(randomUUID());
  // The sha256 is known once the body has ended (the hashing stream ends only with its digests).
  const sha256 = () => hashing.digests().sha256;
  await store.put(tempKey, hashing, signal === undefined ? { sha256 } : { signal, sha256 });
  return { tempKey, digests: hashing.digests() };
}

/**
 * A multer StorageEngine that streams the file part to a temporary object under `incoming/` while hashing
 * it (md5, sha1, sha256 in one pass). Nothing is held in memory. If the client goes away or the part
 * fails, the temporary object is removed before the error is reported.
 */
export class HashingStorageEngine implements StorageEngine {
  constructor(
    private readonly store: ObjectStore,
    private readonly maxBytes: number,
  ) {}

  _handleFile(
    req: Request,
    file: Express.Multer.File,
    callback: (error?: unknown, info?: Partial<Express.Multer.File> & ReceivedFile) => void,
  ): void {
    this.receive(req, file.stream).then(
      (info) => callback(null, info),
      (error: unknown) => callback(error),
    );
  }

  _removeFile(
    _req: Request,
    file: Express.Multer.File & Partial<ReceivedFile>,
    callback: (error: Error | null) => void,
  ): void {
    if (file.tempKey === undefined) return callback(null);
    this.store.delete(file.tempKey).then(
      () => callback(null),
      (e: unknown) => callback(e instanceof Error ? e : new Error(String(e))),
    );
  }

  private async receive(req: Request, stream: Readable): Promise<ReceivedFile> {
    let metadata: SubmissionMetadata;
    try {
      metadata = metadataFromBody(req.body);
      if (metadata.size > this.maxBytes) {
        throw new SpecimenError(
          'FILE_TOO_LARGE',
          `the declared size exceeds the limit of ${this.maxBytes} bytes`,
          {
            limit: this.maxBytes,
          },
        );
      }
    } catch (e) {
      stream.resume();
      throw e;
    }

    // busboy does not always end or fail a file stream when the request dies, so tie the write to the request.
    const abort = new AbortController();
    const onClose = () => {
      if (!req.readableEnded)
        abort.abort(new SpecimenError('CLIENT_CLOSED_REQUEST', 'the client closed the request'));
    };
    req.on('close', onClose);
    let truncated = false;
    stream.once('limit', () => {
      truncated = true;
      abort.abort(
        new SpecimenError('FILE_TOO_LARGE', `the file exceeds the limit of ${this.maxBytes} bytes`),
      );
    });
    let received: Omit<ReceivedFile, 'metadata'>;
    try {
      received = await hashIntoIncoming(this.store, stream, abort.signal);
    } catch (e) {
      stream.resume();
      if (abort.signal.aborted) throw abort.signal.reason as unknown;
      // Anything else is ours (storage), not the client's: it must not read as a malformed body.
      throw e instanceof SpecimenError
        ? e
        : new SpecimenError('INTERNAL', 'the upload could not be stored', undefined, { cause: e });
    } finally {
      req.off('close', onClose);
    }
    if (truncated) {
      await this.store.delete(received.tempKey);
      throw new SpecimenError('FILE_TOO_LARGE', `the file exceeds the limit of ${this.maxBytes} bytes`);
    }
    return { ...received, metadata };
  }
}
