import { addAbortListener } from 'node:events';
import { type Readable } from 'node:stream';
import { SpecimenError } from '#contracts';

/**
 * Frees the memory of `buffer` now instead of at a garbage collection, when it is all of its own ArrayBuffer
 * (as cipher output and `Buffer.allocUnsafeSlow` are; a pooled or shared one is left to the collector). The
 * caller must hold the only reference, and nothing may still be writing it to a socket.
 */
export function freeBuffer(buffer: Buffer): void {
  const whole = buffer.buffer;
  if (whole instanceof ArrayBuffer && buffer.byteOffset === 0 && whole.byteLength === buffer.length) {
    whole.transfer(0);
  }
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk);
  throw new TypeError('put() needs a byte stream, got an object-mode chunk');
}

/** Resolves with the iterator's next result, or rejects with the signal's reason as soon as it aborts. */
function nextOrAbort<T>(iterator: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T>> {
  // A fresh promise per read: racing one long-lived promise would retain every settled read's chunk.
  let stopListening: Disposable | undefined;
  const aborted = new Promise<never>((_, reject) => {
    stopListening = addAbortListener(signal, () => reject(signal.reason as Error));
  });
  return Promise.race([iterator.next(), aborted]).finally(() => stopListening?.[Symbol.dispose]());
}

/**
 * Yields the body's chunks as Buffers. An abort rejects the pending read at once, even if the body
 * never produces another chunk, and the body is destroyed whenever iteration stops early (including
 * when the signal is already aborted).
 */
export async function* readChunks(body: Readable, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<unknown>;
  let finished = false;
  try {
    signal?.throwIfAborted();
    for (;;) {
      const next = signal ? await nextOrAbort(iterator, signal) : await iterator.next();
      if (next.done === true) {
        finished = true;
        return;
      }
      yield toBuffer(next.value);
    }
  } finally {
    // Without an error argument: an 'error' event could crash a caller that has no listener for it.
    if (!finished) body.destroy();
  }
}

/** Throws SIZE_MISMATCH when a declared size is not what the body delivered. */
export function checkSize(expected: number | undefined, actual: number): void {
  if (expected !== undefined && expected !== actual) {
    throw new SpecimenError('SIZE_MISMATCH', 'The body length differs from the declared size', {
      expected,
      actual,
    });
  }
}

/** Throws VALIDATION_FAILED unless start and end are integers with 0 <= start <= end. */
export function checkRange(range: { start: number; end?: number }): void {
  const { start, end } = range;
  if (
    !Number.isSafeInteger(start) ||
    start < 0 ||
    (end !== undefined && (!Number.isSafeInteger(end) || end < start))
  ) {
    throw new SpecimenError('VALIDATION_FAILED', 'Invalid byte range', { start, end });
  }
}
