import { z } from 'zod';

/** What the service says about itself: its health and its API document. */

export const CheckStatus = z.enum(['ok', 'failed']);
export type CheckStatus = z.infer<typeof CheckStatus>;

/** `GET /health/live`. */
export const LivenessView = z.strictObject({ status: z.literal('ok') });
export type LivenessView = z.infer<typeof LivenessView>;

/** `GET /health/ready`: 200 when every check is ok, else 503 with the same shape. */
export const ReadinessView = z.strictObject({
  status: CheckStatus,
  /** Each dependency checked (database, redis, storage) and how it answered within the time limit. */
  checks: z.record(z.string(), CheckStatus),
});
export type ReadinessView = z.infer<typeof ReadinessView>;

/** `GET /docs/openapi.json`: an OpenAPI 3.1 document; its parts are OpenAPI's, not described here. */
export const ApiDocument = z.strictObject({
  openapi: z.string().regex(/^3\.1\.\d+$/),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  servers: z.array(z.looseObject({ url: z.string() })),
  tags: z.array(z.looseObject({ name: z.string() })),
  paths: z.record(z.string(), z.record(z.string(), z.unknown())),
  components: z.looseObject({ schemas: z.record(z.string(), z.unknown()) }),
});
export type ApiDocument = z.infer<typeof ApiDocument>;
