// The benchmarks' multipart client: `POST /v1/submissions` with the metadata part, then the file, streamed
// with a known Content-Length over node:http as an agent sends it (nothing buffered but what is given).
import { randomBytes } from 'node:crypto';
import { type Agent, request } from 'node:http';
import type { Readable } from 'node:stream';
import { multipartHead, multipartTail, multipartType } from '#test-support';

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
export function submitMultipart(upload: MultipartUpload): Promise<{ status: number; body: string }> {
  const boundary = `bench${randomBytes(8).toString('hex')}`;
  const head = multipartHead(boundary, upload.metadata);
  const tail = multipartTail(boundary);
  return new Promise((resolve, reject) => {
    const req = request(new URL('/v1/submissions', upload.baseUrl), {
      method: 'POST',
      ...(upload.agent === undefined ? {} : { agent: upload.agent }),
      headers: {
        authorization: `Bearer ${upload.token}`,
        'content-type': multipartType(boundary),
        'content-length': String(head.length + upload.size + tail.length),
      },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const body = Buffer.concat(chunks).toString();
        if (status >= 200 && status < 300) resolve({ status, body });
        else reject(new Error(`upload failed: ${status} ${body}`));
      });
    });
    req.on('error', reject);
    if (Buffer.isBuffer(upload.file)) {
      req.end(Buffer.concat([head, upload.file, tail]));
      return;
    }
    req.write(head);
    const stream = upload.file();
    stream.on('error', reject);
    stream.on('end', () => req.end(tail));
    stream.pipe(req, { end: false });
  });
}
