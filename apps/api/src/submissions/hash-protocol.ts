import type { Digests } from '#contracts';

/** Messages to the hashing thread. */
export type HashRequest =
  | { type: 'update'; id: number; data: Uint8Array }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number };

/** Messages from it. */
export type HashReply =
  { type: 'ack'; id: number; bytes: number } | { type: 'digests'; id: number; digests: Digests };
