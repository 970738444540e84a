import { Readable } from 'node:stream';
import { TransformStream } from 'node:stream/web';
import { ZipWriter, configure } from '@zip.js/zip.js';

// Web workers do not exist in Node; zip.js would otherwise try them first for every entry.
configure({ useWebWorkers: false });

/**
 * A web stream that reads `body` only when its consumer asks. Readable.toWeb queues ahead of a slow
 * consumer (measured: the API's RSS grew by up to 79 MiB on a 256 MiB download, more on a slower client).
 */
function pullOnly(body: Readable): ReadableStream<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await chunks.next();
        if (next.done === true) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await chunks.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * A ZIP archive holding `body` as one AES-256 encrypted entry, produced as `body` is read: memory stays
 * bounded by the streams' buffers whatever the size. Stored, not deflated: samples are mostly packed or
 * encrypted already, and deflate would halve the download rate for little gain.
 * If reading `body` or writing the archive fails, the returned stream is destroyed with the error.
 */
export function encryptedZip(entryName: string, body: Readable, password: string): Readable {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const out = Readable.fromWeb(readable);
  const writer = new ZipWriter(writable, { password, encryptionStrength: 3, level: 0 });
  const entry = pullOnly(body);
  writer
    .add(entryName, entry)
    .then(() => writer.close())
    .catch((e: unknown) => {
      body.destroy();
      out.destroy(e instanceof Error ? e : new Error(String(e)));
    });
  return out;
}
