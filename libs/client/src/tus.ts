import type { SubmissionCreated, SubmissionMetadata } from '#contracts';
import { SpecimenClientError, type SpecimenClient } from './client.js';

const TUS = { 'tus-resumable': '1.0.0' };

/** Where the bytes of a resumable upload come from: a file on an agent, a Blob in a browser. */
export interface ChunkSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface ResumableOptions {
  metadata: SubmissionMetadata;
  source: ChunkSource;
  /** Bytes per PATCH. */
  chunkSize?: number;
  /** The upload URL of an earlier, interrupted run: resumed from the service's offset when still alive. */
  resumeUrl?: string;
  /** Called with the upload URL as soon as it exists, so a caller can keep it for a later run. */
  onUrl?: (url: string) => void | Promise<void>;
  onProgress?: (sent: number, total: number) => void;
}

export interface ResumableResult {
  submission: SubmissionCreated;
  url: string;
  /** The offset of the first PATCH this run sent (0 for a fresh upload; more when it resumed). */
  resumedFrom: number;
}

function base64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

async function sha256Base64(bytes: Uint8Array): Promise<string> {
  // The DOM's BufferSource wants an ArrayBuffer-backed view (the console typechecks this file with DOM
  // types, where the assertion is needed; Node's types accept the view as it is).
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  return base64(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
}

interface PreparedChunk {
  chunk: Uint8Array;
  checksum: string;
}

function finished(res: Response): SubmissionCreated | null {
  const submissionId = res.headers.get('specimen-submission-id');
  const sha256 = res.headers.get('specimen-sha256');
  if (submissionId === null || sha256 === null) return null;
  return { submissionId, sha256, duplicate: res.headers.get('specimen-duplicate') === 'true' };
}

async function offsetOf(client: SpecimenClient, url: string): Promise<Response | null> {
  const res = await client.send(url, { method: 'HEAD', headers: TUS, accept: [404, 410] });
  return res.status === 200 ? res : null;
}

/**
 * Sends one sample over tus 1.0.0 (creation, checksum): resumes `resumeUrl` from the service's offset when
 * it is still there, else creates an upload. Each chunk carries its sha256; a 460 sends it again, a 409
 * re-reads the offset. Resolves with the submission the last PATCH reports.
 */
export async function uploadResumable(
  client: SpecimenClient,
  options: ResumableOptions,
): Promise<ResumableResult> {
  const { source, metadata } = options;
  const chunkSize = options.chunkSize ?? 8 * 1024 * 1024;
  let url: string | null = null;
  let offset = 0;
  if (options.resumeUrl !== undefined) {
    const head = await offsetOf(client, options.resumeUrl);
    if (head !== null && Number(head.headers.get('upload-length')) === source.size) {
      url = options.resumeUrl;
      offset = Number(head.headers.get('upload-offset'));
      const done = finished(head);
      if (done !== null) return { submission: done, url, resumedFrom: offset };
    }
  }
  if (url === null) {
    const created = await client.send('/v1/uploads', {
      method: 'POST',
      headers: {
        ...TUS,
        'upload-length': String(source.size),
        'upload-metadata': `metadata ${base64(new TextEncoder().encode(JSON.stringify(metadata)))}`,
      },
    });
    const location = created.headers.get('location');
    if (location === null)
      throw new SpecimenClientError(created.status, 'UNKNOWN', 'no Location in the answer');
    url = client.url(location);
  }
  await options.onUrl?.(url);
  const resumedFrom = offset;
  options.onProgress?.(offset, source.size);
  let checksumFailures = 0;
  // The next chunk is read and hashed while the current one is on the wire (one request at a time, as
  // tus wants, but the agent's disk and CPU work overlaps the network and the service's work).
  const prepare = async (at: number): Promise<PreparedChunk> => {
    const chunk = await source.read(at, Math.min(chunkSize, source.size - at));
    return { chunk, checksum: `sha256 ${await sha256Base64(chunk)}` };
  };
  let ahead: { at: number; chunk: Promise<PreparedChunk> } | null = null;
  const take = (at: number): Promise<PreparedChunk> => {
    const next = ahead?.at === at ? ahead.chunk : prepare(at);
    ahead = null;
    return next;
  };
  let current = await take(offset);
  for (;;) {
    const end = offset + current.chunk.length;
    if (ahead === null && end < source.size) {
      const chunk = prepare(end);
      // Awaited later, or dropped after a 409: a failure is reported where it is awaited, not as unhandled.
      chunk.catch(() => undefined);
      ahead = { at: end, chunk };
    }
    const chunk = current.chunk;
    const res = await client.send(url, {
      method: 'PATCH',
      headers: {
        ...TUS,
        'content-type': 'application/offset+octet-stream',
        'upload-offset': String(offset),
        'upload-checksum': current.checksum,
      },
      body: () => chunk as Uint8Array<ArrayBuffer>,
      accept: [409, 460],
    });
    if (res.status === 460) {
      // Corrupted on the way: send the same chunk again, a few times at most.
      if (++checksumFailures > 3)
        throw new SpecimenClientError(460, 'UPLOAD_CHECKSUM_MISMATCH', 'chunks keep arriving corrupted');
      continue;
    }
    if (res.status === 409) {
      const head = await offsetOf(client, url);
      if (head === null) throw new SpecimenClientError(404, 'NOT_FOUND', 'the upload is gone');
      offset = Number(head.headers.get('upload-offset'));
      const done = finished(head);
      if (done !== null) return { submission: done, url, resumedFrom };
      current = await take(offset);
      continue;
    }
    offset = Number(res.headers.get('upload-offset'));
    options.onProgress?.(offset, source.size);
    const done = finished(res);
    if (done !== null) return { submission: done, url, resumedFrom };
    if (offset >= source.size)
      throw new SpecimenClientError(res.status, 'UNKNOWN', 'the upload ended without a submission');
    current = await take(offset);
  }
}
