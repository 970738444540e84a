// A `POST /v1/submissions` body framed by hand, for the tests and benchmarks that send it over node:http
// (a body sent in pieces, cut short, or streamed with a known length), which fetch's FormData cannot do.

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
