import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Response } from 'express';

/**
 * Pipes `body` to the response. A client that hangs up is not an error of ours; any other failure
 * after the headers went out can only cut the connection, which the exception filter does.
 */
export async function sendStream(res: Response, body: Readable): Promise<void> {
  try {
    await pipeline(body, res);
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE' && res.destroyed) return;
    throw e;
  }
}
