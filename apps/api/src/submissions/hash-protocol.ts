import type { Digests } from '#contracts';

/**
 * Messages to the hashing thread. An update carries a slab: the first `length` bytes of `data` are the
 * session's next bytes. The slab is transferred there and back (in the ack) to be reused, never copied.
 */
export type HashRequest =
  | { type: 'update'; id: number; data: ArrayBuffer; length: number }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number };

/** Messages from it. An ack hands the slab of the update back. */
export type HashReply =
  | { type: 'ack'; id: number; bytes: number; data: ArrayBuffer }
  | { type: 'digests'; id: number; digests: Digests };
