import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { type Principal, SpecimenError, type SubmissionCreated, SubmissionMetadata, UUID } from '#contracts';
import { type UploadPart, type UploadRecord, UploadsRepository } from '#database';
import { OBJECT_STORE, type ObjectStore, deleteUpload, uploadPartKey } from '#storage';
import { parseOrThrow } from '../http/validation.js';
import { SubmissionsService } from '../submissions/submissions.service.js';
import { scrubString, scrubbedContext } from '../submissions/scrub.js';
import { hashIntoIncoming } from '../submissions/upload.engine.js';
import { UploadAssemblies } from './assembly.js';
import { removeOrphanedParts } from './orphaned-parts.js';
import { cutAt, writeAt } from './stream-file.js';
import {
  PATCH_CONTENT_TYPE,
  PartMeter,
  encodeUploadMetadata,
  parseChecksum,
  parseSize,
  parseUploadMetadata,
} from './tus.js';

/**
 * Characters of Upload-Metadata beside its `metadata` key (keys and decoded values together), as many as
 * the longest text of a metadata document: each value is scrubbed before it is stored and echoed.
 */
const ECHOED_METADATA_MAX_CHARS = 4096;
/** Verification failures of the whole upload: retrying cannot help, so the upload is dropped. */
const FINAL_REFUSALS = new Set(['CHECKSUM_MISMATCH', 'SIZE_MISMATCH', 'EMPTY_FILE']);
/**
 * Uploads assembled while their chunks arrive, at most, per process: each holds an open file (or S3
 * multipart upload) and up to about one chunk in memory; beyond it an upload is assembled at its finish.
 */
const MAX_ASSEMBLIES = 8;
/** An agent whose PATCHes stop for this long has stalled: its assembly's place may go to another upload. */
const ASSEMBLY_IDLE_MS = 2 * 60_000;

/** The request as the service needs it: a body stream that reports the client going away. */
export interface PatchRequest extends Readable {
  readonly readableEnded: boolean;
}

export interface PatchHeaders {
  contentType: string | undefined;
  offset: string | undefined;
  checksum: string | undefined;
}

/** What a PATCH (or HEAD) reports: the offset and, once the upload is finished, its submission. */
export interface UploadState {
  upload: UploadRecord;
  submission: SubmissionCreated | null;
}

/**
 * A finish claimed longer ago than this is taken to be dead (its process went away mid-finish): another
 * request may finish the upload then. Generous: a finish reassembling gigabytes from S3 takes minutes.
 */
const FINISH_CLAIM_STALE_MS = 15 * 60_000;
/** How long a request that finds another finishing the upload waits for its submission, and how often it looks. */
const FINISH_WAIT_MS = 30_000;
/** What a 423 asks a client to wait before asking again about an upload being finished. */
const FINISH_RETRY_AFTER_S = 5;
const FINISH_POLL_MS = 100;

/** A streamed assembly's file (see UploadAssemblies): its parts are byte ranges of it, at their offsets. */
const STREAM_KEY = /-stream[0-9a-f]+$/;

async function* concatenate(store: ObjectStore, parts: UploadPart[]): AsyncGenerator<Buffer> {
  for (const part of [...parts].sort((a, b) => a.offset - b.offset)) {
    const body = STREAM_KEY.test(part.key)
      ? await store.get(part.key, { start: part.offset, end: part.offset + part.size - 1 })
      : await store.get(part.key);
    for await (const chunk of body) yield chunk as Buffer;
  }
}

/**
 * Reads the body of a PATCH at an upload's end, which must be empty: FILE_TOO_LARGE at its first byte (the
 * rest is drained, not stored). A client that goes away has sent nothing more, so that resolves.
 */
async function refuseMore(body: PatchRequest): Promise<void> {
  if (body.readableEnded) return;
  const meter = new PartMeter(0, null);
  meter.resume();
  await new Promise<void>((resolve, reject) => {
    meter.once('error', (e) => {
      body.unpipe(meter);
      body.resume();
      reject(e);
    });
    meter.once('finish', resolve);
    body.once('close', resolve);
    body.once('error', () => resolve());
    body.pipe(meter);
  });
}

/** `upload` if `principal` may use it now, else why not: absent or another's (NOT_FOUND), or expired. */
function usableBy(upload: UploadRecord | null, principal: Principal): UploadRecord | SpecimenError {
  if (upload === null || upload.createdBy !== principal.tokenId) {
    return new SpecimenError('NOT_FOUND', 'no such upload');
  }
  if (upload.expiresAt.getTime() <= Date.now()) {
    return new SpecimenError('UPLOAD_EXPIRED', 'the upload has expired; start a new one', {
      expiredAt: upload.expiresAt.toISOString(),
    });
  }
  return upload;
}

/**
 * tus 1.0.0 resumable uploads. Each PATCH stores its bytes as one part object under `uploads/<id>/` (on
 * the fs driver, while the upload is assembled in this process, as the next byte range of the
 * assembly's one file there instead: see UploadAssemblies) and then moves the offset in one conditional
 * update; the last one streams the parts, in order, through
 * the same hashing into `incoming/` as the multipart path and hands the result to
 * {@link SubmissionsService.accept}, so verification, promotion, the transaction and the queueing are
 * the multipart path's own.
 */
@Injectable()
export class UploadsService implements OnApplicationShutdown {
  private readonly logger = new Logger(UploadsService.name);
  private readonly assemblies: UploadAssemblies;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(UploadsRepository) private readonly uploads: UploadsRepository,
    @Inject(SubmissionsService) private readonly submissions: SubmissionsService,
  ) {
    this.assemblies = new UploadAssemblies(
      store,
      MAX_ASSEMBLIES,
      Math.min(ASSEMBLY_IDLE_MS, config.limits.resumableExpirySeconds * 1000),
      Date.now,
      // On the fs driver each chunk is written once, into the assembly's file, not also into a part.
      store.driver === 'fs',
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.assemblies.close();
  }

  private expiry(): Date {
    return new Date(Date.now() + this.config.limits.resumableExpirySeconds * 1000);
  }

  async create(
    principal: Principal,
    headers: { length: string | undefined; metadata: string | undefined },
  ): Promise<UploadRecord> {
    const length = parseSize('Upload-Length', headers.length);
    const max = this.config.limits.resumableMaxBytes;
    if (length > max) {
      throw new SpecimenError('FILE_TOO_LARGE', `Upload-Length exceeds the limit of ${max} bytes`, {
        limit: max,
      });
    }
    if (length === 0) throw new SpecimenError('EMPTY_FILE', 'Upload-Length is 0');
    const pairs = parseUploadMetadata(headers.metadata);
    // What a client adds beside the document (tus-js-client: the file's name and type) is scrubbed too, and
    // the scrubbing rules take time quadratic in a string's length: bounded like the document's own text.
    let echoedChars = 0;
    for (const [key, value] of pairs)
      if (key !== 'metadata') echoedChars += key.length + (value?.length ?? 0);
    if (echoedChars > ECHOED_METADATA_MAX_CHARS) {
      throw new SpecimenError(
        'VALIDATION_FAILED',
        `Upload-Metadata: the keys and values beside "metadata" may have at most ${ECHOED_METADATA_MAX_CHARS} characters together`,
        {
          issues: [
            {
              field: 'Upload-Metadata',
              message: `at most ${ECHOED_METADATA_MAX_CHARS} characters beside "metadata"`,
            },
          ],
        },
      );
    }
    const document = pairs.get('metadata');
    if (document === undefined || document === null) {
      throw new SpecimenError('VALIDATION_FAILED', 'Upload-Metadata must carry a "metadata" key', {
        issues: [{ field: 'Upload-Metadata.metadata', message: 'required' }],
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(document);
    } catch {
      throw new SpecimenError('VALIDATION_FAILED', 'the "metadata" value is not valid JSON', {
        issues: [{ field: 'Upload-Metadata.metadata', message: 'not valid JSON' }],
      });
    }
    const metadata = parseOrThrow(SubmissionMetadata, json, 'metadata');
    if (metadata.size !== length) {
      throw new SpecimenError('SIZE_MISMATCH', `metadata size ${metadata.size} but Upload-Length ${length}`, {
        field: 'size',
        declared: metadata.size,
        actual: length,
      });
    }
    // Scrubbed before it is stored, as the multipart path stores it (the hashes and size stay as they are:
    // the finish checks the bytes against them). Every key and value HEAD echoes is scrubbed too: clients
    // such as tus-js-client add their own keys (the file's name, its type), and a key is the agent's text as
    // much as a value (the replacements keep a key a valid one: no space, no comma).
    const { sha256, md5, sha1, size } = metadata;
    const scrubbed = { ...scrubbedContext(metadata), sha256, md5, sha1, size };
    const echoed = new Map(
      [...pairs].map(([key, value]) =>
        key === 'metadata'
          ? [key, JSON.stringify(scrubbed)]
          : [scrubString(key), value === null ? null : scrubString(value)],
      ),
    );
    return this.uploads.create({
      createdBy: principal.tokenId,
      length,
      metadata: scrubbed,
      rawMetadata: headers.metadata === undefined ? '' : encodeUploadMetadata(echoed),
      expiresAt: this.expiry(),
    });
  }

  /** The upload, if it is the caller's: anyone else's is as absent as an unknown id. */
  private async owned(id: string, principal: Principal): Promise<UploadRecord> {
    const upload = UUID.test(id) ? await this.uploads.find(id) : null;
    const usable = usableBy(upload, principal);
    if (usable instanceof SpecimenError) throw usable;
    return usable;
  }

  /**
   * The caller's upload as the last PATCH of it in this process left it, when the PATCH at `offset`
   * continues this process's assembly of it; null when that is not known here (the row is then read).
   * Not reading the row is safe: who created an upload never changes, the expiry is checked here as
   * {@link owned} does (usableBy), and the conditional update that takes the chunk checks the offset and the expiry
   * against the row again (a chunk that lost to another replica, a termination or the sweeper is
   * refused then, as when the row was read first and changed meanwhile).
   */
  private inStep(id: string, principal: Principal, offset: number): UploadRecord | null {
    const upload = this.assemblies.inStep(id, offset);
    const usable = usableBy(upload, principal);
    return usable instanceof SpecimenError ? null : usable;
  }

  private static state(upload: UploadRecord): UploadState {
    return {
      upload,
      submission:
        upload.submissionId === null
          ? null
          : {
              submissionId: upload.submissionId,
              sha256: String(upload.metadata.sha256),
              duplicate: upload.duplicate ?? false,
            },
    };
  }

  /**
   * The upload's state. When every byte is in but no submission was made (the last PATCH's finish failed
   * for a transient reason: storage, the database), the finish is retried here: tus clients, tus-js-client
   * among them, ask HEAD after a failed PATCH and take offset = length as success, so HEAD must not say so
   * while the bytes are not a submission yet. A finish that fails again fails the HEAD, and the client
   * retries; one running elsewhere is waited for ({@link finishOnce}).
   */
  async head(id: string, principal: Principal): Promise<UploadState> {
    const upload = await this.owned(id, principal);
    if (upload.offset === upload.length && upload.submissionId === null) {
      return this.finishOnce(upload, principal).catch((e: unknown) => {
        // tus-js-client takes any other error of a HEAD for a lost upload and sends everything again as
        // a new one; 423 it retries. A refusal for good (the bytes are not what was declared) stays.
        if (e instanceof SpecimenError && e.status < 500) throw e;
        this.logger.warn({ err: e, upload: id }, 'the finish of a complete upload failed; answered 423');
        throw new SpecimenError('UPLOAD_LOCKED', 'the upload is being finished; ask again later', undefined, {
          cause: e,
          retryAfterSeconds: FINISH_RETRY_AFTER_S,
        });
      });
    }
    return UploadsService.state(upload);
  }

  async patch(
    id: string,
    principal: Principal,
    headers: PatchHeaders,
    body: PatchRequest,
  ): Promise<UploadState> {
    if (headers.contentType?.split(';')[0]?.trim().toLowerCase() !== PATCH_CONTENT_TYPE) {
      throw new SpecimenError('UNSUPPORTED_MEDIA_TYPE', `a PATCH body must be ${PATCH_CONTENT_TYPE}`);
    }
    const offset = parseSize('Upload-Offset', headers.offset);
    const checksum = headers.checksum === undefined ? null : parseChecksum(headers.checksum);
    const upload = this.inStep(id, principal, offset) ?? (await this.owned(id, principal));
    if (upload.offset !== offset) {
      throw new SpecimenError('OFFSET_MISMATCH', `the upload is at offset ${upload.offset}`, {
        offset: upload.offset,
      });
    }
    if (upload.offset === upload.length) {
      // Every byte is in: a byte more is past Upload-Length (413), and a finish that failed for a
      // transient reason (storage, database) is retried here.
      await refuseMore(body);
      if (upload.submissionId !== null) return UploadsService.state(upload);
      return this.finishOnce(upload, principal);
    }

    // The bytes also go on into this process's assembly of the whole upload, when it has one in step.
    const assembly = this.assemblies.feed(upload.id, offset);
    const meter = new PartMeter(
      upload.length - offset,
      checksum?.algorithm ?? null,
      assembly === null ? null : (chunk) => assembly.write(chunk),
    );
    // Streamed: the chunk goes into the assembly's file at its offset, and the part is that range of it.
    const stream = assembly?.streamKey ?? null;
    const key = stream ?? uploadPartKey(upload.id, offset, randomBytes(6).toString('hex'));
    const streamPath = stream === null ? null : this.store.localPath(stream);
    const abort = new AbortController();
    const onClose = () => {
      if (!body.readableEnded) {
        abort.abort(new SpecimenError('CLIENT_CLOSED_REQUEST', 'the client closed the request'));
      }
    };
    body.on('close', onClose);
    body.on('error', (e) => meter.destroy(e));
    // The body flows into the meter at once, while the store may still be opening its file: a chunk that
    // runs past Upload-Length fails the meter before anything listens to it. This listener keeps that
    // error from being an unhandled 'error' event (which ended the process); the store then finds the
    // meter failed, and the meter's own error is what the client is told.
    meter.on('error', () => undefined);
    body.pipe(meter);
    try {
      if (streamPath === null) await this.store.put(key, meter, { signal: abort.signal });
      else await writeAt(streamPath, offset, meter, abort.signal);
    } catch (e) {
      assembly?.discard();
      body.unpipe(meter);
      body.resume();
      if (abort.signal.aborted) throw abort.signal.reason as unknown;
      const failure: unknown = meter.errored ?? e;
      throw failure instanceof SpecimenError
        ? failure
        : new SpecimenError('INTERNAL', 'the chunk could not be stored', undefined, { cause: failure });
    } finally {
      body.off('close', onClose);
    }

    // A chunk not taken: its part goes, or, streamed, the file is cut back to the bytes taken before it.
    const discardChunk = async () => {
      if (streamPath === null) await this.store.delete(key);
      else if (offset === 0) await this.store.delete(key);
      else await cutAt(streamPath, offset);
    };
    const digest = meter.digest();
    if (checksum !== null && digest !== null && !digest.equals(checksum.digest)) {
      assembly?.discard();
      await discardChunk();
      throw new SpecimenError(
        'UPLOAD_CHECKSUM_MISMATCH',
        `the chunk does not match its ${checksum.algorithm} checksum and was discarded`,
        { algorithm: checksum.algorithm, offset: upload.offset },
      );
    }
    if (meter.bytes === 0) {
      await assembly?.commit(0);
      if (stream === null) await this.store.delete(key);
      return UploadsService.state(upload);
    }
    let moved;
    try {
      moved = await this.uploads.appendPart(
        upload.id,
        offset,
        { key, offset, size: meter.bytes },
        this.expiry(),
      );
    } catch (e) {
      assembly?.discard();
      throw e;
    }
    if (moved === null) {
      // Another request moved the offset first, or the upload was terminated or expired meanwhile.
      assembly?.discard();
      await discardChunk();
      const now = await this.owned(id, principal).catch(async (e: unknown) => {
        // Terminated (or swept) while this chunk was written: the row went first and its parts with
        // it, but a streamed chunk's file was opened again by this PATCH, so it goes too.
        if (e instanceof SpecimenError && e.code === 'NOT_FOUND' && streamPath !== null) {
          await this.removeParts(upload.id);
        }
        throw e;
      });
      throw new SpecimenError('OFFSET_MISMATCH', `the upload is at offset ${now.offset}`, {
        offset: now.offset,
      });
    }
    await assembly?.commit(meter.bytes, moved);
    return moved.offset === moved.length ? this.finishOnce(moved, principal) : UploadsService.state(moved);
  }

  /**
   * Finishes a fully received upload exactly once, whichever request (the last PATCH, or a retry of it at
   * any replica) gets here: the one that claims the finish runs it; another waits for the submission it
   * makes and answers with that, or, once that finish failed and gave up its claim, finishes it itself.
   */
  private async finishOnce(upload: UploadRecord, principal: Principal): Promise<UploadState> {
    const deadline = Date.now() + FINISH_WAIT_MS;
    let now = upload;
    for (;;) {
      // The claim (an UPDATE) is tried only when the row shows none alive; the wait itself reads.
      const stale = new Date(Date.now() - FINISH_CLAIM_STALE_MS);
      if (now.completedAt === null || now.completedAt < stale) {
        const claimed = await this.uploads.claimFinish(upload.id, stale);
        if (claimed !== null) return this.finish(claimed, principal);
      }
      now = await this.owned(upload.id, principal);
      if (now.submissionId !== null) return UploadsService.state(now);
      if (Date.now() >= deadline) {
        throw new SpecimenError(
          'UPLOAD_LOCKED',
          'another request is finishing this upload; ask again later',
          { offset: now.offset },
          { retryAfterSeconds: FINISH_RETRY_AFTER_S },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, FINISH_POLL_MS));
    }
  }

  /** The finish {@link finishOnce} claimed: its claim is given up again when it fails but for good. */
  private async finish(upload: UploadRecord, principal: Principal): Promise<UploadState> {
    try {
      return await this.assembleAndAccept(upload, principal);
    } catch (e) {
      if (!(e instanceof SpecimenError && FINAL_REFUSALS.has(e.code))) {
        await this.uploads.releaseFinish(upload.id).catch((err: unknown) => {
          // The claim goes stale instead: a retry after FINISH_CLAIM_STALE_MS finishes the upload.
          this.logger.warn({ err, upload: upload.id }, 'the claim of a failed finish not given up');
        });
      }
      throw e;
    }
  }

  private async assembleAndAccept(upload: UploadRecord, principal: Principal): Promise<UploadState> {
    // Checked at creation, then scrubbed: a value the scrubbing made longer (a user name as `<user>`) must
    // not refuse at the end an upload accepted at its start.
    const metadata = upload.metadata as SubmissionMetadata;
    // Assembled while the chunks arrived, or else now from the stored parts, in order.
    let received = await this.assemblies.finish(upload.id, upload.length);
    if (received === null) {
      const source = Readable.from(concatenate(this.store, upload.parts));
      try {
        received = await hashIntoIncoming(this.store, source);
      } catch (e) {
        source.destroy();
        // A part gone (the sweeper, say): the upload's own state, not the storage key of the part.
        if (e instanceof SpecimenError && e.code === 'NOT_FOUND') {
          throw new SpecimenError('NOT_FOUND', 'no such upload: its parts are gone', undefined, { cause: e });
        }
        throw e instanceof SpecimenError
          ? e
          : new SpecimenError('INTERNAL', 'the upload could not be assembled', undefined, { cause: e });
      }
    }
    let created: SubmissionCreated;
    try {
      // Keyed by the upload: a finish run again after one that recorded its submission but died before
      // `complete` below (a crash, a stale claim taken over) answers with that submission, not a second one.
      created = await this.submissions.accept({ ...received, metadata }, principal, `tus:${upload.id}`);
    } catch (e) {
      if (e instanceof SpecimenError && FINAL_REFUSALS.has(e.code)) await this.remove(upload.id);
      throw e;
    }
    await this.removeParts(upload.id);
    await this.uploads.complete(upload.id, created.submissionId, created.duplicate);
    return {
      upload: {
        ...upload,
        completedAt: new Date(),
        submissionId: created.submissionId,
        duplicate: created.duplicate,
      },
      submission: created,
    };
  }

  async terminate(id: string, principal: Principal): Promise<void> {
    const upload = await this.owned(id, principal);
    if (upload.offset === upload.length) {
      // Its finish has run or is running (here or at another replica): removing its parts under it made
      // the finish fail on a missing part, or left a submission whose upload had said 204.
      throw new SpecimenError(
        'CONFLICT',
        'every byte of this upload is in: it is a submission, or becoming one, and can no longer be terminated',
        { offset: upload.offset },
      );
    }
    await this.remove(upload.id);
  }

  /** The row first, so a PATCH still in flight loses its conditional update and removes its own part. */
  private async remove(id: string): Promise<void> {
    this.assemblies.drop(id);
    await this.uploads.delete(id);
    await this.removeParts(id);
  }

  private async removeParts(id: string): Promise<void> {
    await deleteUpload(this.store, id);
  }

  /** Removes uploads that expired, with their parts, then parts of no upload; returns how many expired. */
  async sweep(): Promise<number> {
    let swept = 0;
    // A stalled upload (or one that goes on at another replica) is reassembled at its finish, if ever.
    this.assemblies.dropIdle(Math.min(ASSEMBLY_IDLE_MS, this.config.limits.resumableExpirySeconds * 1000));
    for (;;) {
      const ids = await this.uploads.deleteExpired(new Date(), 100);
      for (const id of ids) {
        this.assemblies.drop(id);
        try {
          await this.removeParts(id);
        } catch (e) {
          this.logger.warn({ err: e, upload: id }, 'parts of an expired upload not removed');
        }
      }
      swept += ids.length;
      if (ids.length < 100) break;
    }
    // On its own: a failure here does not hide the expired uploads already removed.
    try {
      const orphaned = await removeOrphanedParts(
        this.store,
        (ids) => this.uploads.existing(ids),
        (id) => this.assemblies.drop(id),
      );
      if (orphaned > 0) this.logger.warn(`removed the folders of ${orphaned} uploads that had no row`);
    } catch (e) {
      this.logger.warn({ err: e }, 'upload folders without a row not removed');
    }
    return swept;
  }
}
