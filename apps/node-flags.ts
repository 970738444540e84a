/**
 * The API process's Node flags, for the places that start it from code (apps/main.ts, test support);
 * package.json's `start:api` and docker/ spell the same on their command lines.
 * - A young generation of 8 MiB semi-spaces, between two needs. Small, upload buffers (short-lived garbage)
 *   are collected sooner: 2 MiB took a 1 GiB upload from 109 to 133 MB/s with 35 MB less peak RSS, before
 *   uploads paced minor collections themselves (http/buffer-garbage.ts). Larger, the request paths that
 *   allocate (a 1,000-hash lookup ~200 KB, a search page) scavenge less often: against 2 MiB, 8 MiB cut the
 *   API's CPU per 1,000-hash lookup from 2.5–3.8 to 2.2–2.8 ms and per cheapest search from 0.32 to 0.28 ms
 *   (alternated runs of bench:lookups and bench:search), for 184–186 MB of peak RSS on a 1 GiB upload
 *   (goal ≤ 200) against 173–181; 16 MiB gave no more and 201–206 MB.
 * - `gc` exposed, for the paced minor collections of apps/api/src/http/buffer-garbage.ts.
 * - Request headers up to 96 KiB in all (Node's default is 16 KiB): a tus creation carries the submission
 *   metadata in `Upload-Metadata` as base64, and the multipart path takes a metadata document of up to
 *   64 KiB; above 16 KiB Node refused it with a bare 431.
 */
export const API_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=8',
  '--expose-gc',
  '--max-http-header-size=98304',
];
