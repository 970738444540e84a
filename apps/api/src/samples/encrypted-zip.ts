import { Readable } from 'node:stream';
import { TransformStream } from 'node:stream/web';
import { ZipWriter, configure } from '@zip.js/zip.js';

// Web workers do not exist in Node; zip.js would otherwise try them first for every entry.
configure({ useWebWorkers: false });

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
  const entry = Readable.toWeb(body) as unknown as ReadableStream<Uint8Array>;
  writer
    .add(entryName, entry)
    .then(() => writer.close())
    .catch((e: unknown) => {
      body.destroy();
      out.destroy(e instanceof Error ? e : new Error(String(e)));
    });
  return out;
}
