/**
 * Paces young-generation collections by body bytes, so dead socket buffers do not pile up during uploads.
 *
 * Each socket read is a fresh 64 KiB buffer outside the V8 heap, freed only when a young-generation GC
 * finds its small heap handle dead. Those GCs are driven by heap allocation, and an upload allocates
 * little heap per byte: on a 1 GiB upload tens of MB of dead buffers waited for the next scavenge
 * (peak RSS 203–219 MB with a 2 MiB semi-space, 245 MB with 16 MiB). Asking for a minor GC every
 * {@link PACE_BYTES} of body bounds that garbage (peak 167–170 MB; a scavenge of the API's young
 * generation costs well under a millisecond, against ~60 ms to receive 8 MiB).
 *
 * It needs `--expose-gc` (apps/node-flags.ts, and the command lines of package.json and docker/); without
 * the flag it does nothing and V8 collects on its own schedule.
 */
const PACE_BYTES = 8 * 1024 * 1024;
const collect = globalThis.gc;
let sinceLast = 0;

/** Counts `bytes` of request body just consumed; past the pace, collects the young generation. */
export function bodyBytesConsumed(bytes: number): void {
  if (collect === undefined) return;
  sinceLast += bytes;
  if (sinceLast < PACE_BYTES) return;
  sinceLast = 0;
  collect({ type: 'minor' });
}
