import { createHash, randomUUID } from 'node:crypto';
import type { PathLike } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { type ChunkSource, type SpecimenClient, SpecimenClientError, uploadResumable } from '#client';
import type { LookupResponse, SubmissionMetadata } from '#contracts';
import type { AgentFiles, SubmissionRecord } from './config.js';
import type { Progress } from './progress.js';
import { type FileDigests, shownPath } from './sources.js';

/** One thing to send: its metadata (checksums included) and where its bytes are. */
export interface Item {
  name: string;
  metadata: SubmissionMetadata;
  source: ChunkSource;
  /** The multipart body; read again on a retry. */
  blob: () => Promise<Blob>;
  /** Whether the bytes are no longer those hashed (a file changed since); absent for bytes in memory. */
  changed?: () => Promise<boolean>;
}

export interface ItemResult {
  name: string;
  /** Absent for a path that was not read (passed over, or failed before its bytes were hashed). */
  sha256?: string;
  size?: number;
  /** `skipped`: passed over on purpose (an empty file, a link inside a folder), with the reason in `error`. */
  action: 'known' | 'uploaded' | 'failed' | 'skipped';
  verdict?: string;
  via?: 'multipart' | 'resumable';
  submissionId?: string;
  duplicate?: boolean;
  /** Offset of the first PATCH of this run: more than 0 when an interrupted upload was resumed. */
  resumedFrom?: number;
  /** Why a `known` item was not sent although the service wanted it. */
  detail?: string;
  error?: string;
}

export interface SubmitOptions {
  resumableThreshold: number;
  chunkSize: number;
}

export const checksums = (d: FileDigests) => ({ sha256: d.sha256, sha1: d.sha1, md5: d.md5, size: d.size });

/**
 * The multipart body of a file: its bytes read whole (at most the resumable threshold, 16 MiB by default)
 * and checked against the digests it was looked up with, so a file that changed since it was hashed fails
 * here, with its name, instead of being sent. (A Blob of `fs.openAsBlob` was read while the request went
 * out; when the file changed meanwhile, Node 24's fetch let the read's NotReadableError escape as an
 * unhandled rejection, which ended the whole run.)
 */
export const fileBlob = (path: PathLike, digests: Pick<FileDigests, 'size' | 'sha256'>) => async () => {
  const bytes = await readFile(path);
  if (bytes.length !== digests.size || createHash('sha256').update(bytes).digest('hex') !== digests.sha256) {
    throw new Error(`${shownPath(path)} changed while it was being sent`);
  }
  return new Blob([new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)]);
};
export const bufferBlob = (bytes: Buffer) => () => Promise.resolve(new Blob([new Uint8Array(bytes)]));
export const label = (path: string) => basename(path);

/** What {@link submitItems} did: a result per item, and why it stopped early when it did. */
export interface SubmitOutcome {
  results: ItemResult[];
  /** Submissions of earlier runs' uploads that the service finished but those runs did not record. */
  recovered: SubmissionRecord[];
  /** The refusal that ended the run, and how many items after it were not sent (`failed` in results). */
  stopped?: { error: SpecimenClientError; notSent: number };
}

/**
 * Whether a failure is of the service or of this agent as a whole, not of one item: the service
 * unreachable or still refusing after every retry (network, 429, 502-504), the key unknown or revoked
 * (401), consent withdrawn or the role refused (403). Every later item would meet it too, each after its
 * own retries: with the service stopped, a folder of 200 files took ~15 s a file (50 minutes) to fail.
 */
function stopsTheRun(e: unknown): e is SpecimenClientError {
  return e instanceof SpecimenClientError && [0, 401, 403, 429, 502, 503, 504].includes(e.status);
}

/**
 * Hash-first: one lookup per 1,000 items, then only the wanted ones are sent; those of at least
 * `resumableThreshold` bytes over tus, resuming an upload an earlier run left unfinished. A failure of
 * the service as a whole ({@link stopsTheRun}) ends the run: the items left are reported as not sent.
 */
export async function submitItems(
  client: SpecimenClient,
  files: AgentFiles,
  items: Item[],
  options: SubmitOptions,
  progress: Progress,
): Promise<SubmitOutcome> {
  const results: ItemResult[] = [];
  // First, as the lookups may answer that those bytes are known and their uploads not needed any more.
  const recovered = await recoverUploads(client, files);
  for (const r of recovered)
    progress.note(`recorded ${r.name} (an earlier run's upload, which the service finished)`);
  // The same bytes under two names (a copy, a link named on the command line) are sent once.
  const sentThisRun = new Set<string>();
  const notSent = (from: number, stopped: SpecimenClientError): SubmitOutcome => {
    const error = `not sent: the run stopped at an earlier item (${describeError(stopped)})`;
    for (const item of items.slice(from)) {
      results.push({
        name: item.name,
        sha256: item.metadata.sha256,
        size: item.metadata.size,
        action: 'failed',
        error,
      });
    }
    return { results, recovered, stopped: { error: stopped, notSent: items.length - from } };
  };
  for (let i = 0; i < items.length; i += 1000) {
    const batch = items.slice(i, i + 1000);
    let answer: LookupResponse;
    try {
      answer = await client.lookup(
        batch.map((item) => ({
          sha256: item.metadata.sha256,
          size: item.metadata.size,
          kind: item.metadata.kind,
        })),
      );
    } catch (e) {
      // The first lookup failing is the command's failure; a later one must not hide what was sent before.
      if (i > 0 && e instanceof SpecimenClientError) return notSent(i, e);
      throw e;
    }
    for (const [index, item] of batch.entries()) {
      const known = answer.items[index];
      const base = { name: item.name, sha256: item.metadata.sha256, size: item.metadata.size };
      // Bytes an earlier run sent over multipart without recording the submission (killed before the answer
      // came) are sent again under that run's key: the service answers with the submission it recorded then.
      if (
        known !== undefined &&
        'known' in known &&
        !known.wanted &&
        !(
          item.metadata.size < options.resumableThreshold &&
          (await files.posting(item.metadata.sha256)) !== undefined
        )
      ) {
        // The bytes reached the service another way: an upload an earlier run left unfinished is not needed.
        await forgetUpload(client, files, item.metadata.sha256);
        results.push({
          ...base,
          action: 'known',
          ...(known.verdict === undefined ? {} : { verdict: known.verdict }),
        });
        progress.note(`known    ${item.name}${known.verdict === undefined ? '' : ` (${known.verdict})`}`);
        continue;
      }
      if (sentThisRun.has(item.metadata.sha256)) {
        results.push({ ...base, action: 'known', detail: 'the same bytes were sent earlier in this run' });
        progress.note(`known    ${item.name} (the same bytes were sent earlier in this run)`);
        continue;
      }
      try {
        results.push({ ...base, ...(await send(client, files, item, options, progress)) });
        sentThisRun.add(item.metadata.sha256);
      } catch (e) {
        // With the service's code and status, and what to do about it (as the command's own errors say).
        const message = describeError(e);
        results.push({ ...base, action: 'failed', error: message });
        progress.note(`failed   ${item.name}: ${message}`);
        if (stopsTheRun(e)) return notSent(i + index + 1, e);
      }
    }
  }
  return { results, recovered };
}

/**
 * Ends the unfinished upload of `sha256` an earlier run left (tus termination, best effort: an upload the
 * service no longer has, or has finished, is simply forgotten) and removes it from the state.
 */
async function forgetUpload(client: SpecimenClient, files: AgentFiles, sha256: string): Promise<void> {
  const url = (await files.upload(sha256))?.url;
  if (url === undefined) return;
  await client
    .send(url, { method: 'DELETE', headers: { 'tus-resumable': '1.0.0' }, accept: [404, 409, 410] })
    .catch(() => undefined);
  await files.dropUpload(sha256);
}

/** The `filename` of the metadata a tus upload was created with (its `Upload-Metadata`), if any. */
function uploadFilename(res: Response): string | undefined {
  for (const pair of (res.headers.get('upload-metadata') ?? '').split(',')) {
    const [key, value] = pair.trim().split(' ');
    if (key !== 'metadata' || value === undefined) continue;
    try {
      const metadata = JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as { filename?: unknown };
      return typeof metadata.filename === 'string' ? metadata.filename : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The uploads earlier runs left, asked of the service (tus HEAD) and settled: one it finished is recorded
 * as a submission (a run stopped, killed or powered off after its last chunk was accepted and before it
 * recorded the submission: the URL is kept before the first byte is sent, so nothing the service accepted
 * over tus is missing from `status`); one it no longer has (404, 410) is forgotten; the rest stay to
 * resume. A failure of the service as a whole ({@link stopsTheRun}) is thrown; another leaves the upload
 * as it is. Returns the submissions recorded.
 */
export async function recoverUploads(client: SpecimenClient, files: AgentFiles): Promise<SubmissionRecord[]> {
  const recovered: SubmissionRecord[] = [];
  for (const [sha256, upload] of Object.entries((await files.state()).uploads)) {
    let res: Response;
    try {
      res = await client.send(upload.url, {
        method: 'HEAD',
        headers: { 'tus-resumable': '1.0.0' },
        accept: [404, 410],
      });
    } catch (e) {
      if (stopsTheRun(e)) throw e;
      continue;
    }
    if (res.status === 404 || res.status === 410) {
      await files.dropUpload(sha256);
      continue;
    }
    const submissionId = res.headers.get('specimen-submission-id');
    if (submissionId === null) continue;
    const submission = {
      submissionId,
      sha256,
      name: upload.name ?? uploadFilename(res) ?? sha256,
      submittedAt: new Date().toISOString(),
    };
    await files.recordSubmission(submission);
    recovered.push(submission);
  }
  return recovered;
}

/** Answers after which an upload cannot be resumed: its state entry goes. */
const DROPPED = new Set([404, 410, 422]);

async function send(
  client: SpecimenClient,
  files: AgentFiles,
  item: Item,
  options: SubmitOptions,
  progress: Progress,
): Promise<Omit<ItemResult, 'name' | 'sha256' | 'size'>> {
  const { sha256 } = item.metadata;
  let result: Omit<ItemResult, 'name' | 'sha256' | 'size'>;
  if (item.metadata.size >= options.resumableThreshold) {
    const resumeUrl = (await files.upload(sha256))?.url;
    const done = await uploadResumable(client, {
      metadata: item.metadata,
      source: item.source,
      chunkSize: options.chunkSize,
      ...(resumeUrl === undefined ? {} : { resumeUrl }),
      // Kept (and synced) before the first byte goes: a run stopped at any point after it leaves an upload
      // the next run resumes or, when the service finished it, records (recoverUploads).
      onUrl: (url) => files.recordUpload(sha256, { url, name: item.name }),
      onProgress: (sent, total) => progress.update(item.name, sent, total),
    }).catch(async (e: unknown) => {
      // The service dropped the upload (gone, or refused when finished: 422): nothing is left to resume.
      if (e instanceof SpecimenClientError && DROPPED.has(e.status)) {
        await files.dropUpload(sha256);
        // Each chunk arrived as it was read (it carries its sha256): when the whole is not what was hashed,
        // the file changed meanwhile, which the service's words alone ("declared sha256 does not match the
        // received bytes") did not tell.
        if (e.status === 422 && (await item.changed?.()) === true) {
          throw new Error(`${item.name} changed while it was being sent (${e.code}: ${e.message})`, {
            cause: e,
          });
        }
      } else if (!(e instanceof SpecimenClientError)) {
        // Not the service nor the network but the file (it changed, or went): its bytes so far are of
        // other content, so the upload is ended on the service (its parts freed now, not at expiry) and
        // forgotten; a later run starts afresh.
        await forgetUpload(client, files, sha256);
      }
      throw e;
    });
    result = {
      action: 'uploaded',
      via: 'resumable',
      submissionId: done.submission.submissionId,
      duplicate: done.submission.duplicate,
      resumedFrom: done.resumedFrom,
    };
  } else {
    const body = await item.blob();
    // The key is kept before the first attempt, and an earlier run's is used again (see PostingRecord).
    const kept = await files.posting(sha256);
    const idempotencyKey = kept?.key ?? randomUUID();
    if (kept?.key !== idempotencyKey || kept.name !== item.name) {
      await files.recordPosting(sha256, { key: idempotencyKey, name: item.name });
    }
    const created = await client
      .submit(item.metadata, () => body, { idempotencyKey })
      .catch(async (e: unknown) => {
        // Refused (the key used for other metadata, the bytes not what was declared, consent withdrawn...):
        // nothing was recorded under the key. A timeout, a lost connection or a 5xx may have been recorded.
        if (
          e instanceof SpecimenClientError &&
          e.status >= 400 &&
          e.status < 500 &&
          ![408, 429].includes(e.status)
        ) {
          await files.dropUpload(sha256);
        }
        throw e;
      });
    progress.update(item.name, item.metadata.size, item.metadata.size);
    result = {
      action: 'uploaded',
      via: 'multipart',
      submissionId: created.submissionId,
      duplicate: created.duplicate,
    };
  }
  await files.recordSubmission({
    submissionId: result.submissionId ?? '',
    sha256,
    name: item.name,
    submittedAt: new Date().toISOString(),
  });
  return result;
}

/** What the service's refusals ask of an agent, in this command's words. */
const REMEDIES: Record<string, string> = {
  CONSENT_REQUIRED: 'run "specimen-agent consent --participate" to take part',
};

export const describeError = (e: unknown): string =>
  e instanceof SpecimenClientError
    ? `${e.code} (${e.status}): ${e.message}${REMEDIES[e.code] === undefined ? '' : `; ${REMEDIES[e.code]}`}`
    : e instanceof Error
      ? e.message
      : String(e);
