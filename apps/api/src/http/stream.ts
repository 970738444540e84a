import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { Response } from 'express';

/**
 * Pipes `body` to the response. A client that hangs up is not an error of ours; any other failure
 * after the headers went out can only cut the connection, which the exception filter does.
 *
 * With `release`, each chunk is handed to it once the socket is done with it (the write's callback,
 * without error), so the body may fill its memory again: see EncryptedZip.
 */
export async function sendStream(
  res: Response,
  body: Readable,
  release?: (chunk: Buffer) => void,
): Promise<void> {
  try {
    await (release === undefined ? pipeline(body, res) : writeReleasing(res, body, release));
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE' && res.destroyed) return;
    throw e;
  }
}

/** What pipeline(body, res) does, with a callback per write; rejects as pipeline would. */
async function writeReleasing(
  res: Response,
  body: Readable,
  release: (chunk: Buffer) => void,
): Promise<void> {
  // Rejects with ERR_STREAM_PREMATURE_CLOSE when the client hangs up, and then stops reading the body.
  const done = finished(res);
  done.catch(() => body.destroy());
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (res.destroyed) break;
      const more = res.write(chunk, (e) => {
        if (e === undefined || e === null) release(chunk);
      });
      if (!more) await Promise.race([once(res, 'drain'), done]);
    }
  } catch (e) {
    res.destroy(e as Error);
    throw e;
  }
  res.end();
  await done;
}
