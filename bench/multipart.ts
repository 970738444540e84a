// The benchmarks' multipart client: `POST /v1/submissions` with the metadata part, then the file, streamed
// with a known Content-Length over node:http as an agent sends it (nothing buffered but what is given).
import { randomBytes } from 'node:crypto';
import type { Agent } from 'node:http';
import type { Readable } from 'node:stream';
import { multipartHead, multipartTail, openSubmission } from '#test-support';

export interface MultipartUpload {
  baseUrl: string;
  token: string;
  metadata: Record<string, unknown>;
  /** The file's bytes, or a function opening a stream of exactly `size` bytes. */
  file: Buffer | (() => Readable);
  size: number;
  agent?: Agent;
}

/** Resolves with the status and body of a 2xx answer; rejects with both on any other. */
export async function submitMultipart(upload: MultipartUpload): Promise<{ status: number; body: string }> {
  const boundary = `bench${randomBytes(8).toString('hex')}`;
  const head = multipartHead(boundary, upload.metadata);
  const tail = multipartTail(boundary);
  const { req, answer } = openSubmission(
    upload.baseUrl,
    upload.token,
    boundary,
    head.length + upload.size + tail.length,
    upload.agent,
  );
  const sent = new Promise<void>((resolve, reject) => {
    if (Buffer.isBuffer(upload.file)) {
      req.end(Buffer.concat([head, upload.file, tail]));
      resolve();
      return;
    }
    req.write(head);
    const stream = upload.file();
    stream.on('error', reject);
    stream.on('end', () => {
      req.end(tail);
      resolve();
    });
    stream.pipe(req, { end: false });
  });
  const [{ status, body }] = await Promise.all([answer, sent]);
  if (status < 200 || status >= 300) throw new Error(`upload failed: ${status} ${body}`);
  return { status, body };
}
