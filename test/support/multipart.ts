// A `POST /v1/submissions` body framed by hand, for the tests and benchmarks that send it over node:http
// (a body sent in pieces, cut short, or streamed with a known length), which fetch's FormData cannot do.
import { type Agent, type ClientRequest, request } from 'node:http';

/** What comes before the file's bytes: the metadata part, then the file part's headers. */
export function multipartHead(boundary: string, metadata: unknown, filename = 'f.bin'): Buffer {
  return Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n${JSON.stringify(metadata)}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
}

/** What comes after the file's bytes: the closing boundary. */
export function multipartTail(boundary: string): Buffer {
  return Buffer.from(`\r\n--${boundary}--\r\n`);
}

/** The Content-Type header of such a body. */
export const multipartType = (boundary: string): string => `multipart/form-data; boundary=${boundary}`;

/**
 * A `POST /v1/submissions` of `length` body bytes opened over node:http, the caller writing the body (in
 * pieces if it likes): the request, and the answer's status and text once it has ended.
 */
export function openSubmission(
  baseUrl: string,
  token: string,
  boundary: string,
  length: number,
  agent?: Agent | false,
): { req: ClientRequest; answer: Promise<{ status: number; body: string }> } {
  const req = request(new URL('/v1/submissions', baseUrl), {
    method: 'POST',
    ...(agent === undefined ? {} : { agent }),
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': multipartType(boundary),
      'content-length': String(length),
    },
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
  return { req, answer };
}
