import { z } from 'zod';
import { Md5, Sha1, Sha256 } from './hashes.js';
import { text } from './text.js';
import { Id, IsoTime, Sha256Hex } from './views.js';

export const SAMPLE_KINDS = ['file', 'file-fragment', 'memory-region', 'boot-record'] as const;
export const SampleKind = z.enum(SAMPLE_KINDS);
export type SampleKind = z.infer<typeof SampleKind>;

const shortText = (max = 1024) => text(1, max);

/** Fields every submission carries, whatever its kind. */
const common = {
  sha256: Sha256,
  md5: Md5.optional(),
  sha1: Sha1.optional(),
  size: z.number().int().nonnegative(),
  /** A label only: never used to name anything on disk. */
  filename: shortText(255).optional(),
  observedAt: z.iso.datetime({ offset: true }).optional(),
};

const processInfo = z.strictObject({
  pid: z.number().int().nonnegative(),
  image: shortText(),
  imageSha256: Sha256.optional(),
  commandLine: shortText(4096).optional(),
});

export const FileMetadata = z.strictObject({
  kind: z.literal('file'),
  ...common,
  path: shortText(4096).optional(),
  detectionName: shortText(256).optional(),
  signer: shortText(512).optional(),
  process: processInfo.optional(),
});

export const FileFragmentMetadata = z
  .strictObject({
    kind: z.literal('file-fragment'),
    ...common,
    parent: z.strictObject({ sha256: Sha256, size: z.number().int().positive() }),
    offset: z.number().int().nonnegative(),
    length: z.number().int().positive(),
    path: shortText(4096).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.offset + m.length > m.parent.size) {
      ctx.addIssue({ code: 'custom', path: ['length'], message: 'offset + length exceeds parent.size' });
    }
    if (m.length !== m.size) {
      ctx.addIssue({ code: 'custom', path: ['length'], message: 'length must equal size' });
    }
  });

export const MemoryRegionMetadata = z.strictObject({
  kind: z.literal('memory-region'),
  ...common,
  process: processInfo,
  baseAddress: z
    .string()
    .regex(/^0x[0-9a-fA-F]{1,16}$/, 'baseAddress must be a hex string like 0x7ff6a0000000'),
  regionSize: z.number().int().positive(),
  protection: z.string().regex(/^[RWXC-]{1,4}$/, 'protection must be letters of RWXC, e.g. RWX or R-X'),
  module: shortText(1024).optional(),
});

export const BootRecordMetadata = z
  .strictObject({
    kind: z.literal('boot-record'),
    ...common,
    device: z.union([z.number().int().nonnegative(), shortText(256)]),
    lba: z.number().int().nonnegative(),
    sectorSize: z.union([z.literal(512), z.literal(4096)], { error: 'must be 512 or 4096' }),
    scheme: z.enum(['mbr', 'gpt', 'vbr', 'unknown']),
  })
  .superRefine((m, ctx) => {
    if (m.size % m.sectorSize !== 0) {
      ctx.addIssue({ code: 'custom', path: ['size'], message: 'size must be a multiple of sectorSize' });
    }
  });

/** The metadata document of a submission: one schema per kind, chosen by `kind`. */
export const SubmissionMetadata = z.discriminatedUnion('kind', [
  FileMetadata,
  FileFragmentMetadata,
  MemoryRegionMetadata,
  BootRecordMetadata,
]);
export type SubmissionMetadata = z.infer<typeof SubmissionMetadata>;

export const SUBMISSION_STATUSES = ['received', 'queued', 'scanned', 'failed'] as const;
export const SubmissionStatus = z.enum(SUBMISSION_STATUSES);
export type SubmissionStatus = z.infer<typeof SubmissionStatus>;

export const VERDICTS = ['clean', 'suspicious', 'malicious'] as const;
export const Verdict = z.enum(VERDICTS);
export type Verdict = z.infer<typeof Verdict>;

/** Answer of `POST /v1/submissions` (201, or 200 when the sample was already stored). */
export const SubmissionCreated = z.strictObject({
  submissionId: Id,
  sha256: Sha256Hex,
  duplicate: z.boolean(),
});
export type SubmissionCreated = z.infer<typeof SubmissionCreated>;

/**
 * The `Idempotency-Key` header of `POST /v1/submissions`: one random value per logical upload (a UUID, say),
 * sent again on every retry of it; a retry then gets the first answer instead of recording a second
 * submission. Letters, digits, `-`, `_` and `.` only, so no client key can be one the service makes itself.
 */
export const IdempotencyKey = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,255}$/, '1 to 255 letters, digits, "-", "_" or "."');
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';

/** `GET /v1/submissions/:id`. */
export const SubmissionView = z.strictObject({
  id: Id,
  sha256: Sha256Hex,
  kind: SampleKind,
  status: SubmissionStatus,
  verdict: Verdict.nullable(),
  receivedAt: IsoTime,
  filename: z.string().nullable(),
});
export type SubmissionView = z.infer<typeof SubmissionView>;
