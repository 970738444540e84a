import { open } from 'node:fs/promises';
import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { type Principal, PreviewQuery, type PreviewRow, type PreviewView, SpecimenError } from '#contracts';
import { type AuditEntry, AuditRepository, Batcher } from '#database';
import { OBJECT_STORE, type ObjectStore } from '#storage';
import { parseOrThrow } from '../http/validation.js';
import { type EncryptedZip, type ZipSource, encryptedZip, encryptedZipLength } from './encrypted-zip.js';
import { SamplesService } from './samples.service.js';

const ROW = 16;
/** Download records committed together at most (one INSERT of that many rows). */
const MAX_AUDIT_BATCH = 64;

/** Hex and ASCII rows of 16 bytes; only printable ASCII is shown as itself, so the dump is safe to display. */
export function hexRows(bytes: Buffer, offset: number): PreviewRow[] {
  const rows: PreviewRow[] = [];
  for (let at = 0; at < bytes.length; at += ROW) {
    const row = bytes.subarray(at, at + ROW);
    const hex: string[] = [];
    let ascii = '';
    for (const b of row) {
      hex.push(b.toString(16).padStart(2, '0'));
      ascii += b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : '.';
    }
    rows.push({ offset: offset + at, hex: hex.join(' '), ascii });
  }
  return rows;
}

/** The bytes of samples, handed out only as an encrypted archive or a bounded hex dump. */
/** The archive a sample downloads as: one entry named by its sha256, and the ZIP's name and length. */
function archiveOf(sample: { sha256: string; size: number }) {
  const entry = { name: sample.sha256, size: sample.size };
  return { entry, filename: `${sample.sha256}.zip`, length: encryptedZipLength(entry) };
}

/**
 * A sample whose object is not in storage: said as the sample's state, not with the store's own error, whose
 * details name the object's key. Other errors (storage unreachable) pass as they are.
 */
function bytesGone(sha256: string, cause: unknown): unknown {
  if (cause !== null && !(cause instanceof SpecimenError && cause.code === 'NOT_FOUND')) return cause;
  return new SpecimenError('NOT_FOUND', `the bytes of sample ${sha256} are not in storage`, undefined, {
    cause,
  });
}

@Injectable()
export class SampleContentService {
  /**
   * Group commit of download records: the records of downloads that start while a commit is under way
   * go together in the next one, so concurrent downloads share one statement and one WAL flush instead
   * of queueing for one each. A lone download's record is written at once.
   */
  private readonly downloadRecords: Batcher<AuditEntry, number>;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(AuditRepository) audit: AuditRepository,
    @Inject(SamplesService) private readonly samples: SamplesService,
  ) {
    this.downloadRecords = new Batcher((entries) => audit.appendCommitted(entries), MAX_AUDIT_BATCH);
  }

  /**
   * The sample as an AES-256 ZIP with one entry named by its sha256. The audit record is committed
   * before this returns, so before the first byte is sent; when it cannot be written, the download is
   * refused with AUDIT_UNAVAILABLE. `length` is the archive's exact length, for Content-Length.
   *
   * The record is written while the archive makes its first bytes (its key derivation and first chunk,
   * which the stream reads ahead into its own buffer): the caller gets the body, and can send from it,
   * only once the record has committed. The object is opened first, as a download the store cannot
   * serve is not recorded.
   */
  async download(
    sha256: string,
    principal: Principal,
  ): Promise<{ filename: string; length: number; body: EncryptedZip }> {
    const sample = await this.samples.object(sha256);
    const { entry, filename, length } = archiveOf(sample);
    const source = await this.open(sample.objectKey).catch((e: unknown) => {
      throw bytesGone(sample.sha256, e);
    });
    const body = encryptedZip(entry, source, this.config.download.zipPassword);
    try {
      await this.downloadRecords.submit({
        actorId: principal.tokenId,
        actorName: principal.name,
        action: 'sample.download',
        targetType: 'sample',
        targetId: sample.sha256,
        details: { size: sample.size, role: principal.role },
      });
    } catch (e) {
      body.destroy();
      throw new SpecimenError(
        'AUDIT_UNAVAILABLE',
        'the download could not be audited, so it is refused',
        undefined,
        {
          cause: e,
          retryAfterSeconds: 30,
        },
      );
    }
    return { filename, length, body };
  }

  /**
   * What a download would answer, for HEAD: the archive's name and length once the sample and its object
   * are found (404 otherwise, as GET), without reading the object, and without an audit record (no byte
   * of the sample leaves).
   */
  async downloadHead(sha256: string): Promise<{ filename: string; length: number }> {
    const sample = await this.samples.object(sha256);
    if ((await this.store.stat(sample.objectKey)) === null) throw bytesGone(sample.sha256, null);
    const { filename, length } = archiveOf(sample);
    return { filename, length };
  }

  /**
   * The object as an open file when the store keeps it on this machine (the archive then reads it straight
   * into its chunk buffers: half the garbage of a stream, see ZipSource), else as the store's stream.
   */
  private async open(key: string): Promise<ZipSource> {
    const path = this.store.localPath(key);
    if (path === null) return this.store.get(key);
    // When that fails, the store's own get says why, in its terms (NOT_FOUND, STORAGE_UNAVAILABLE).
    return open(path, 'r').catch(() => this.store.get(key));
  }

  /** At most 64 KiB from `offset`, read as a byte range; an offset at or past the end gives no rows. */
  async preview(sha256: string, query: unknown): Promise<PreviewView> {
    const sample = await this.samples.object(sha256);
    const { offset, length } = parseOrThrow(PreviewQuery, query, 'query');
    if (offset >= sample.size) return { offset, length: 0, size: sample.size, rows: [] };
    const end = Math.min(sample.size, offset + length) - 1;
    const stream = await this.store.get(sample.objectKey, { start: offset, end }).catch((e: unknown) => {
      throw bytesGone(sample.sha256, e);
    });
    const chunks: Buffer[] = [];
    let read = 0;
    const want = end - offset + 1;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      read += chunk.length;
      // A driver that ignores the range end must not make us hold more than the window.
      if (read >= want) break;
    }
    const bytes = Buffer.concat(chunks).subarray(0, want);
    return { offset, length: bytes.length, size: sample.size, rows: hexRows(bytes, offset) };
  }
}
