import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Upload } from 'tus-js-client';
import { uploadPartKey } from '#storage';
import { TestService, benign, fileMetadata, listFiles, pollUntil, query } from '#test-support';

const MiB = 1024 * 1024;

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

const tusMetadata = (metadata: Record<string, unknown>): string =>
  `metadata ${Buffer.from(JSON.stringify(metadata)).toString('base64')}`;

/** A tus creation for `bytes`, with their metadata (or the given Upload-Metadata header). */
async function create(
  service: TestService,
  token: string,
  bytes: Buffer,
  metadata = tusMetadata(fileMetadata(bytes)),
): Promise<Response> {
  return service.request('/v1/uploads', {
    method: 'POST',
    token,
    headers: {
      'tus-resumable': '1.0.0',
      'upload-length': String(bytes.length),
      'upload-metadata': metadata,
    },
  });
}

async function createdUrl(service: TestService, token: string, bytes: Buffer): Promise<string> {
  const res = await create(service, token, bytes);
  assert.equal(res.status, 201, await res.clone().text());
  const location = res.headers.get('location');
  assert.ok(location !== null && location.startsWith('/v1/uploads/'), String(location));
  return location;
}

async function patch(
  service: TestService,
  token: string,
  url: string,
  offset: number,
  chunk: Buffer,
  checksum?: string,
  baseUrl?: string,
): Promise<Response> {
  return service.request(url, {
    method: 'PATCH',
    token,
    ...(baseUrl === undefined ? {} : { baseUrl }),
    headers: {
      'tus-resumable': '1.0.0',
      'content-type': 'application/offset+octet-stream',
      'upload-offset': String(offset),
      ...(checksum === undefined ? {} : { 'upload-checksum': checksum }),
    },
    body: chunk,
  });
}

async function offsetOf(service: TestService, token: string, url: string): Promise<Response> {
  return service.request(url, { method: 'HEAD', token, headers: { 'tus-resumable': '1.0.0' } });
}

/**
 * A PATCH whose body is written by the test, piece by piece (node:http, so the test decides when the
 * chunk ends or the connection goes away): `response` settles with the status and the body's text.
 */
function openPatch(
  service: TestService,
  token: string,
  url: string,
  offset: number,
  length: number,
): { req: ReturnType<typeof httpRequest>; response: Promise<{ status: number; text: string }> } {
  const req = httpRequest(`${service.baseUrl}${url}`, {
    method: 'PATCH',
    headers: {
      authorization: `Bearer ${token}`,
      'tus-resumable': '1.0.0',
      'content-type': 'application/offset+octet-stream',
      'upload-offset': String(offset),
      'content-length': String(length),
    },
  });
  const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  return { req, response };
}

const digest = (algorithm: string, bytes: Buffer): string =>
  `${algorithm} ${createHash(algorithm).update(bytes).digest('base64')}`;

describe('resumable uploads (tus 1.0.0)', () => {
  const service = new TestService();
  let agent = '';

  before(async () => {
    await service.start();
    agent = await service.token('agent');
  });
  after(() => service.stop());

  it('announces the protocol and its extensions on OPTIONS', async () => {
    const res = await service.request('/v1/uploads', { method: 'OPTIONS', token: null });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('tus-version'), '1.0.0');
    assert.equal(res.headers.get('tus-resumable'), '1.0.0');
    assert.equal(res.headers.get('tus-extension'), 'creation,checksum,termination,expiration');
    assert.equal(res.headers.get('tus-max-size'), String(4 * 1024 * MiB));
    assert.equal(res.headers.get('tus-checksum-algorithm'), 'sha1,sha256');
  });

  it('takes a 64 MiB file from tus-js-client in 8 MiB chunks as one scanned sample', async () => {
    const bytes = benign(64 * MiB);
    const metadata = fileMetadata(bytes, { filename: 'big.bin' });
    const patches: number[] = [];
    let submissionId: string | null = null;
    let uploadUrl: string | null = null;
    await new Promise<void>((resolve, reject) => {
      const upload = new Upload(bytes, {
        endpoint: `${service.baseUrl}/v1/uploads`,
        chunkSize: 8 * MiB,
        retryDelays: null,
        headers: { authorization: `Bearer ${agent}` },
        metadata: { metadata: JSON.stringify(metadata) },
        onAfterResponse: (req, res) => {
          if (req.getMethod() === 'PATCH') patches.push(res.getStatus());
          submissionId = res.getHeader('Specimen-Submission-Id') ?? submissionId;
        },
        onError: reject,
        onSuccess: () => {
          uploadUrl = upload.url;
          resolve();
        },
      });
      upload.start();
    });
    assert.deepEqual(patches, Array(8).fill(204));
    assert.ok(submissionId !== null, 'the last PATCH names the submission');
    const done = await pollUntil(
      async () => {
        const res = await service.request(`/v1/submissions/${submissionId}`, { token: agent });
        const s = (await res.json()) as { status: string; sha256: string; verdict: string | null };
        return s.status === 'scanned' || s.status === 'failed' ? s : undefined;
      },
      { timeoutMs: 60_000, what: 'the scan of the resumable upload' },
    );
    assert.equal(done.status, 'scanned');
    assert.equal(done.sha256, metadata.sha256);
    const rows = await query<{ n: string }>(
      service.databaseUrl,
      'select count(*) as n from samples where sha256 = $1',
      [metadata.sha256],
    );
    assert.equal(rows[0]?.n, '1');
    const files = await listFiles(service.storageDir ?? '');
    assert.deepEqual(
      files.filter((f) => f.startsWith('uploads/') || f.startsWith('incoming/')),
      [],
      'no part and no temporary object is left',
    );
    const id = String(uploadUrl).split('/').pop() ?? '';
    assert.match(id, /^[0-9a-f-]{36}$/);
    const folders = await readdir(join(service.storageDir ?? '', 'uploads'));
    assert.ok(!folders.includes(id), 'nor its folder');
  });

  it('refuses a chunk with a wrong checksum with 460, discards it and keeps the offset', async () => {
    const bytes = benign(3000);
    const url = await createdUrl(service, agent, bytes);
    const first = bytes.subarray(0, 1000);
    const wrong = await patch(service, agent, url, 0, first, digest('sha256', Buffer.from('other')));
    assert.equal(wrong.status, 460);
    assert.equal(wrong.statusText, 'Checksum Mismatch', 'the tus reason phrase, not "unknown"');
    assert.equal(((await wrong.json()) as ErrorBody).error.code, 'UPLOAD_CHECKSUM_MISMATCH');
    const head = await offsetOf(service, agent, url);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('upload-offset'), '0');
    assert.equal(head.headers.get('upload-length'), '3000');
    const id = url.split('/').pop() ?? '';
    assert.deepEqual(
      (await listFiles(service.storageDir ?? '')).filter((f) => f.startsWith(`uploads/${id}`)),
      [],
    );

    const good = await patch(service, agent, url, 0, first, digest('sha1', first));
    assert.equal(good.status, 204, await good.clone().text());
    assert.equal(good.headers.get('upload-offset'), '1000');
    const last = await patch(
      service,
      agent,
      url,
      1000,
      bytes.subarray(1000),
      digest('sha256', bytes.subarray(1000)),
    );
    assert.equal(last.status, 204, await last.clone().text());
    assert.equal(last.headers.get('upload-offset'), '3000');
    assert.match(last.headers.get('specimen-submission-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  it('refuses bytes past Upload-Length with 413 once every byte is in', async () => {
    const bytes = benign(2000);
    const url = await createdUrl(service, agent, bytes);
    const last = await patch(service, agent, url, 0, bytes);
    assert.equal(last.status, 204, await last.clone().text());
    const submissionId = last.headers.get('specimen-submission-id');
    assert.match(submissionId ?? '', /^[0-9a-f-]{36}$/);
    const more = await patch(service, agent, url, 2000, Buffer.from('0123456789'));
    assert.equal(more.status, 413, await more.clone().text());
    assert.equal(((await more.json()) as ErrorBody).error.code, 'FILE_TOO_LARGE');
    // An empty PATCH at the end still answers with the submission.
    const again = await patch(service, agent, url, 2000, Buffer.alloc(0));
    assert.equal(again.status, 204, await again.clone().text());
    assert.equal(again.headers.get('specimen-submission-id'), submissionId);
  });

  it('refuses a chunk that runs past Upload-Length with 413, keeps the offset, and keeps serving', async () => {
    const bytes = benign(3000);
    for (const [offset, extra] of [
      [0, 1],
      [1000, 1],
      [1000, 1024 * 1024],
    ] as const) {
      const url = await createdUrl(service, agent, bytes);
      if (offset > 0) {
        const first = await patch(service, agent, url, 0, bytes.subarray(0, offset));
        assert.equal(first.status, 204, await first.clone().text());
      }
      const body = Buffer.concat([bytes.subarray(offset), Buffer.alloc(extra, 0x41)]);
      const over = await patch(service, agent, url, offset, body);
      assert.equal(over.status, 413, await over.clone().text());
      assert.equal(((await over.json()) as ErrorBody).error.code, 'FILE_TOO_LARGE');
      const head = await offsetOf(service, agent, url);
      assert.equal(head.status, 200, 'the API still answers');
      assert.equal(head.headers.get('upload-offset'), String(offset));
      const rest = await patch(service, agent, url, offset, bytes.subarray(offset));
      assert.equal(rest.status, 204, await rest.clone().text());
      assert.equal(rest.headers.get('upload-offset'), '3000');
      // Finished: the assembled bytes matched the declared checksums, so none of the refused ones stayed.
      assert.match(rest.headers.get('specimen-submission-id') ?? '', /^[0-9a-f-]{36}$/);
    }
  });

  it('answers a wrong offset with 409 OFFSET_MISMATCH', async () => {
    const bytes = benign(2000);
    const url = await createdUrl(service, agent, bytes);
    const res = await patch(service, agent, url, 500, bytes.subarray(500));
    assert.equal(res.status, 409);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.code, 'OFFSET_MISMATCH');
    assert.equal(body.error.details?.offset, 0);
    assert.equal((await offsetOf(service, agent, url)).headers.get('upload-offset'), '0');
  });

  it('lets nobody but its creator see or extend an upload', async () => {
    const bytes = benign(100);
    const url = await createdUrl(service, agent, bytes);
    const other = await service.token('agent');
    assert.equal((await offsetOf(service, other, url)).status, 404);
    assert.equal((await patch(service, other, url, 0, bytes)).status, 404);
  });

  it('refuses a bad creation: no version, no metadata, a size that disagrees, too large', async () => {
    const bytes = benign(100);
    const noVersion = await service.request('/v1/uploads', {
      method: 'POST',
      token: agent,
      headers: { 'upload-length': '100', 'upload-metadata': tusMetadata(fileMetadata(bytes)) },
    });
    assert.equal(noVersion.status, 412);
    const noMetadata = await service.request('/v1/uploads', {
      method: 'POST',
      token: agent,
      headers: { 'tus-resumable': '1.0.0', 'upload-length': '100' },
    });
    assert.equal(noMetadata.status, 400);
    const disagrees = await service.request('/v1/uploads', {
      method: 'POST',
      token: agent,
      headers: {
        'tus-resumable': '1.0.0',
        'upload-length': '99',
        'upload-metadata': tusMetadata(fileMetadata(bytes)),
      },
    });
    assert.equal(disagrees.status, 422);
    const huge = 5 * 1024 * MiB;
    const tooLarge = await service.request('/v1/uploads', {
      method: 'POST',
      token: agent,
      headers: {
        'tus-resumable': '1.0.0',
        'upload-length': String(huge),
        'upload-metadata': tusMetadata({ ...fileMetadata(bytes), size: huge }),
      },
    });
    assert.equal(tooLarge.status, 413);
  });

  it('lets nobody but its creator extend an upload in progress', async () => {
    const bytes = benign(2000);
    const url = await createdUrl(service, agent, bytes);
    assert.equal((await patch(service, agent, url, 0, bytes.subarray(0, 1000))).status, 204);
    const other = await service.token('agent');
    const stranger = await patch(service, other, url, 1000, bytes.subarray(1000));
    assert.equal(stranger.status, 404);
    assert.equal(((await stranger.json()) as ErrorBody).error.code, 'NOT_FOUND');
    assert.equal((await offsetOf(service, agent, url)).headers.get('upload-offset'), '1000');
    const last = await patch(service, agent, url, 1000, bytes.subarray(1000));
    assert.equal(last.status, 204, await last.clone().text());
    assert.match(last.headers.get('specimen-submission-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  it('refuses a chunk once another replica terminated the upload, and keeps none of its bytes', async () => {
    const replica = await service.startApiReplica();
    const bytes = benign(3000);
    const url = await createdUrl(service, agent, bytes);
    const id = url.split('/').pop() ?? '';
    assert.equal((await patch(service, agent, url, 0, bytes.subarray(0, 1000))).status, 204);
    const gone = await service.request(url, {
      method: 'DELETE',
      token: agent,
      baseUrl: replica,
      headers: { 'tus-resumable': '1.0.0' },
    });
    assert.equal(gone.status, 204);
    const late = await patch(service, agent, url, 1000, bytes.subarray(1000, 2000));
    assert.equal(late.status, 404);
    assert.deepEqual(
      (await listFiles(service.storageDir ?? '')).filter((f) => f.startsWith(`uploads/${id}`)),
      [],
    );
  });

  it('answers 404 to a chunk that was arriving while the upload was terminated, and keeps none of it', async () => {
    const bytes = benign(3000);
    const url = await createdUrl(service, agent, bytes);
    const id = url.split('/').pop() ?? '';
    assert.equal((await patch(service, agent, url, 0, bytes.subarray(0, 1000))).status, 204);
    // The second chunk goes on into the file this process assembles the upload in (fs driver).
    const { req, response } = openPatch(service, agent, url, 1000, 1000);
    req.write(bytes.subarray(1000, 1500));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const gone = await service.request(url, {
      method: 'DELETE',
      token: agent,
      headers: { 'tus-resumable': '1.0.0' },
    });
    assert.equal(gone.status, 204);
    req.end(bytes.subarray(1500, 2000));
    const late = await response;
    assert.equal(late.status, 404, late.text);
    assert.equal((JSON.parse(late.text) as ErrorBody).error.code, 'NOT_FOUND');
    assert.deepEqual(
      (await listFiles(service.storageDir ?? '')).filter((f) => f.startsWith(`uploads/${id}`)),
      [],
    );
  });

  it('finishes an upload once when the last PATCH is retried while the first is still finishing', async () => {
    const replica = await service.startApiReplica();
    const bytes = benign(32 * MiB);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const url = await createdUrl(service, agent, bytes);
    const first = await patch(
      service,
      agent,
      url,
      0,
      bytes.subarray(0, bytes.length - 1),
      undefined,
      replica,
    );
    assert.equal(first.status, 204, await first.clone().text());
    // The last byte at the other process: it has no assembly of the upload, so its finish reads every
    // part back; the retry (as libs/client sends it after a 409 and a HEAD) comes in meanwhile.
    const last = patch(service, agent, url, bytes.length - 1, bytes.subarray(bytes.length - 1));
    // Watched in the database, not by HEAD: a HEAD of a fully received upload waits for its finish.
    const id = url.split('/').pop() ?? '';
    await pollUntil(
      async () => {
        const [row] = await query<{ offset: string }>(
          service.databaseUrl,
          'select "offset"::text as offset from uploads where id = $1',
          [id],
        );
        return row?.offset === String(bytes.length) ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 5, what: 'the last byte taken' },
    );
    const retry = await patch(service, agent, url, bytes.length, Buffer.alloc(0), undefined, replica);
    const done = await last;
    assert.equal(done.status, 204, await done.clone().text());
    const submissionId = done.headers.get('specimen-submission-id');
    assert.match(submissionId ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(retry.status, 204, await retry.clone().text());
    assert.equal(retry.headers.get('specimen-submission-id'), submissionId);
    const rows = await query<{ id: string }>(
      service.databaseUrl,
      'select id from submissions where sample_sha256 = $1',
      [sha256],
    );
    assert.deepEqual(
      rows.map((r) => r.id),
      [submissionId],
    );
  });

  it('answers a retried last PATCH and a HEAD of a finished upload as its finish did, duplicate included', async () => {
    const bytes = benign(3000);
    assert.equal((await service.submit(bytes, fileMetadata(bytes), agent)).status, 201);
    const url = await createdUrl(service, agent, bytes);
    const last = await patch(service, agent, url, 0, bytes);
    assert.equal(last.status, 204, await last.clone().text());
    assert.equal(last.headers.get('specimen-duplicate'), 'true');
    const submissionId = last.headers.get('specimen-submission-id');
    const retried = await patch(service, agent, url, bytes.length, Buffer.alloc(0));
    assert.equal(retried.status, 204, await retried.clone().text());
    const head = await offsetOf(service, agent, url);
    assert.equal(head.status, 200);
    for (const again of [retried, head]) {
      assert.equal(again.headers.get('specimen-submission-id'), submissionId);
      assert.equal(again.headers.get('specimen-duplicate'), 'true');
    }
  });

  it('keeps one part for chunks streamed into one file, however many chunks came', async () => {
    const bytes = benign(8 * 1000);
    const url = await createdUrl(service, agent, bytes);
    const id = url.split('/').pop() ?? '';
    for (let offset = 0; offset < 7000; offset += 1000) {
      const res = await patch(service, agent, url, offset, bytes.subarray(offset, offset + 1000));
      assert.equal(res.status, 204, await res.clone().text());
    }
    // The list is rewritten at every chunk: one entry a chunk made that quadratic in their number.
    const [row] = await query<{ parts: Array<{ offset: number; size: number }> }>(
      service.databaseUrl,
      'select parts from uploads where id = $1',
      [id],
    );
    assert.deepEqual(
      row?.parts.map((p) => [p.offset, p.size]),
      [[0, 7000]],
    );
    const last = await patch(service, agent, url, 7000, bytes.subarray(7000));
    assert.equal(last.status, 204, await last.clone().text());
    assert.equal(last.headers.get('specimen-sha256'), createHash('sha256').update(bytes).digest('hex'));
  });

  it('terminates an upload on DELETE and removes its parts', async () => {
    const bytes = benign(2000);
    const url = await createdUrl(service, agent, bytes);
    assert.equal((await patch(service, agent, url, 0, bytes.subarray(0, 1000))).status, 204);
    const id = url.split('/').pop() ?? '';
    const parts = async () =>
      (await listFiles(service.storageDir ?? '')).filter((f) => f.startsWith(`uploads/${id}`));
    assert.equal((await parts()).length, 1);
    const res = await service.request(url, {
      method: 'DELETE',
      token: agent,
      headers: { 'tus-resumable': '1.0.0' },
    });
    assert.equal(res.status, 204);
    assert.deepEqual(await parts(), []);
    assert.equal((await offsetOf(service, agent, url)).status, 404);

    // Once every byte is in, the upload is a submission (or becoming one): no termination.
    const whole = await createdUrl(service, agent, bytes);
    assert.equal((await patch(service, agent, whole, 0, bytes)).status, 204);
    const late = await service.request(whole, {
      method: 'DELETE',
      token: agent,
      headers: { 'tus-resumable': '1.0.0' },
    });
    assert.equal(late.status, 409, await late.clone().text());
    assert.match(
      ((await late.json()) as { error: { message: string } }).error.message,
      /can no longer be terminated/,
    );
    assert.equal((await offsetOf(service, agent, whole)).status, 200);
  });

  it('stores and echoes upload metadata scrubbed, as the multipart path stores it', async () => {
    const bytes = benign(2000);
    const res = await create(
      service,
      agent,
      bytes,
      [
        tusMetadata(
          fileMetadata(bytes, {
            path: 'C:\\Users\\alice.smith\\Downloads\\invoice.exe',
            filename: 'from bob@example.com.exe',
          }),
        ),
        // What tus-js-client adds of its own: the file's name.
        `filename ${Buffer.from('/home/carol/Desktop/x.bin').toString('base64')}`,
        // Keys are the agent's text too (a key alone, or with a value): scrubbed as the values are.
        'erin@example.org',
        `C:\\Users\\dave\\notes.txt ${Buffer.from('x').toString('base64')}`,
      ].join(','),
    );
    assert.equal(res.status, 201, await res.clone().text());
    const url = res.headers.get('location') ?? '';
    const id = url.split('/').at(-1);
    const [row] = await query<{ metadata: unknown; raw_metadata: string }>(
      service.databaseUrl,
      'select metadata, raw_metadata from uploads where id = $1',
      [id],
    );
    const stored = JSON.stringify(row);
    for (const secret of ['alice', 'bob@example.com', 'carol', 'erin@example.org', 'dave'])
      assert.doesNotMatch(stored, new RegExp(secret));
    const head = await offsetOf(service, agent, url);
    const header = head.headers.get('upload-metadata') ?? '';
    const echoed = decodeURIComponent(
      header
        .split(',')
        .map((pair) => Buffer.from(pair.split(' ')[1] ?? '', 'base64').toString('utf8'))
        .join('|'),
    );
    for (const secret of ['alice', 'bob@example.com', 'carol'])
      assert.doesNotMatch(echoed, new RegExp(secret));
    for (const secret of ['erin@example.org', 'dave']) assert.doesNotMatch(header, new RegExp(secret));
    assert.match(header, /(^|,)<email>(,|$)/);
    assert.match(header, /(^|,)C:\\Users\\<user>\\notes\.txt eA==(,|$)/);
    assert.match(echoed, /invoice\.exe/);
    // And the upload still becomes its submission, its hashes untouched by the scrubbing.
    const last = await patch(service, agent, url, 0, bytes);
    assert.equal(last.status, 204, await last.clone().text());
    assert.equal(last.headers.get('specimen-sha256'), createHash('sha256').update(bytes).digest('hex'));
  });

  it('takes a metadata document as large as the multipart path takes (Node refused headers above 16 KiB)', async () => {
    const bytes = benign(1500);
    // 4,000 CJK characters of path: ~12 KB of UTF-8, ~16 KB as base64.
    const metadata = fileMetadata(bytes, {
      path: `C:\\${'資料'.repeat(2000)}`,
      filename: `${'名'.repeat(250)}.exe`,
    });
    const header = tusMetadata(metadata);
    assert.ok(header.length > 16 * 1024, String(header.length));
    const res = await create(service, agent, bytes, header);
    assert.equal(res.status, 201, await res.clone().text());
  });

  it('refuses long values beside the metadata document before scrubbing them (they stalled the API for seconds)', async () => {
    const bytes = benign(1500);
    // 60,000 characters of labels: scrubbing them took ~7 s of the event loop (the rules are quadratic).
    const long = Buffer.from('a.'.repeat(30_000)).toString('base64');
    const started = Date.now();
    const res = await create(service, agent, bytes, `${tusMetadata(fileMetadata(bytes))},filename ${long}`);
    assert.equal(res.status, 400, await res.clone().text());
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.code, 'VALIDATION_FAILED');
    assert.deepEqual(
      (body.error.details?.issues as { field: string }[]).map((issue) => issue.field),
      ['Upload-Metadata'],
    );
    assert.ok(Date.now() - started < 1000, `answered in ${Date.now() - started} ms`);
    // What tus-js-client adds (the file's name and type) still goes through.
    const ok = await create(
      service,
      agent,
      bytes,
      [
        tusMetadata(fileMetadata(bytes)),
        `filename ${Buffer.from(`${'n'.repeat(255)}.bin`).toString('base64')}`,
        `filetype ${Buffer.from('application/octet-stream').toString('base64')}`,
      ].join(','),
    );
    assert.equal(ok.status, 201, await ok.clone().text());
  });

  it('finishes on HEAD an upload whose last PATCH failed after every byte was in', async () => {
    const bytes = benign(3000);
    const url = await createdUrl(service, agent, bytes);
    const sha = createHash('sha256').update(bytes).digest('hex');
    // The finish's transaction fails (a transient failure: the database), after the bytes are all in.
    await query(service.databaseUrl, 'alter table submissions rename to submissions_away');
    try {
      const last = await patch(service, agent, url, 0, bytes);
      assert.ok(last.status >= 500, `the finish failed: ${last.status}`);
      // Asked while the finish still cannot succeed: 423, which tus clients retry (on any other error
      // tus-js-client sends the whole file again as a new upload).
      const locked = await offsetOf(service, agent, url);
      assert.equal(locked.status, 423);
      assert.equal(locked.headers.get('retry-after'), '5');
    } finally {
      await query(service.databaseUrl, 'alter table submissions_away rename to submissions');
    }
    // What tus-js-client does next: HEAD, and offset = length means done. It must then be done.
    const head = await offsetOf(service, agent, url);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('upload-offset'), String(bytes.length));
    assert.equal(head.headers.get('specimen-sha256'), sha);
    const rows = await query<{ n: string }>(
      service.databaseUrl,
      'select count(*) as n from submissions where sample_sha256 = $1',
      [sha],
    );
    assert.equal(rows[0]?.n, '1', 'the upload became one submission');
    const again = await offsetOf(service, agent, url);
    assert.equal(again.headers.get('specimen-submission-id'), head.headers.get('specimen-submission-id'));
  });

  it('refuses an upload whose declared checksum the assembled bytes do not match, and drops it', async () => {
    const bytes = benign(1000);
    const res = await create(
      service,
      agent,
      bytes,
      tusMetadata(fileMetadata(bytes, { sha256: 'a'.repeat(64), md5: undefined, sha1: undefined })),
    );
    assert.equal(res.status, 201);
    const url = res.headers.get('location') ?? '';
    const last = await patch(service, agent, url, 0, bytes);
    assert.equal(last.status, 422);
    assert.equal(((await last.json()) as ErrorBody).error.code, 'CHECKSUM_MISMATCH');
    assert.equal((await offsetOf(service, agent, url)).status, 404);
  });
});

describe('resumable uploads: expiration and guards', () => {
  const service = new TestService({
    scanner: false,
    env: {
      RESUMABLE_EXPIRY_SECONDS: '1',
      RESUMABLE_SWEEP_INTERVAL_MS: '300',
      SCAN_BACKLOG_MAX: '0',
      SCAN_BACKLOG_CACHE_MS: '0',
      BACKPRESSURE_RETRY_AFTER_SECONDS: '7',
    },
  });
  let agent = '';

  before(async () => {
    await service.start();
    agent = await service.token('agent');
  });
  after(() => service.stop());

  it('expires an abandoned upload: 404 or 410, and its parts are swept', async () => {
    const bytes = benign(4000);
    const url = await createdUrl(service, agent, bytes);
    const first = await patch(service, agent, url, 0, bytes.subarray(0, 1000));
    assert.equal(first.status, 204);
    assert.ok(Date.parse(first.headers.get('upload-expires') ?? '') > 0, 'Upload-Expires is a date');
    const id = url.split('/').pop() ?? '';
    await pollUntil(
      async () => {
        const parts = (await listFiles(service.storageDir ?? '')).filter((f) =>
          f.startsWith(`uploads/${id}`),
        );
        return parts.length === 0 ? true : undefined;
      },
      { timeoutMs: 10_000, what: 'the sweep of the expired upload' },
    );
    const head = await offsetOf(service, agent, url);
    assert.ok([404, 410].includes(head.status), String(head.status));
    const late = await patch(service, agent, url, 1000, bytes.subarray(1000));
    assert.ok([404, 410].includes(late.status), String(late.status));
    const rows = await query(service.databaseUrl, 'select id from uploads where id = $1', [id]);
    assert.deepEqual(rows, []);
  });

  it('sweeps parts whose upload has no row (a chunk that raced a purge)', async () => {
    // What a PATCH leaves when it stores its chunk while a consent purge removes the upload's parts and
    // then its row: a part under uploads/<id>/ with no row for it.
    const id = randomUUID();
    const part = join(service.storageDir ?? '', uploadPartKey(id, 0, 'raced'));
    await mkdir(dirname(part), { recursive: true });
    await writeFile(part, benign(100));
    await pollUntil(
      async () => {
        const left = (await listFiles(service.storageDir ?? '')).filter((f) =>
          f.startsWith(`uploads/${id}/`),
        );
        return left.length === 0 ? true : undefined;
      },
      { timeoutMs: 10_000, what: 'the sweep of the part without an upload' },
    );
  });

  it('refuses an enrolled agent without consent with 403 before it creates anything', async () => {
    const enrollment = await service.request('/v1/enrollment-tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ttlSeconds: 600, maxUses: 1 }),
    });
    const { token } = (await enrollment.json()) as { token: string };
    const enrolled = await service.request('/v1/agents/enroll', {
      method: 'POST',
      token: null,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        enrollmentToken: token,
        product: { name: 'Specimen Agent', version: '1.0.0' },
        os: { family: 'linux', version: '6.1' },
      }),
    });
    assert.equal(enrolled.status, 201);
    const { apiKey } = (await enrolled.json()) as { apiKey: string };
    const res = await create(service, apiKey, benign(100));
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as ErrorBody).error.code, 'CONSENT_REQUIRED');
    assert.deepEqual(await query(service.databaseUrl, 'select id from uploads'), []);
  });

  // Last: once a scan job waits (no scanner here), every byte upload of this service is refused.
  it('refuses creation and chunks with 503 BACKPRESSURE while the scan backlog is full', async () => {
    const pending = benign(2000);
    const url = await createdUrl(service, agent, pending);
    const bytes = benign(100);
    assert.equal((await service.submit(bytes, fileMetadata(bytes), agent)).status, 201);
    const created = await pollUntil(async () => {
      const res = await create(service, agent, benign(100));
      return res.status === 503 ? res : undefined;
    });
    assert.equal(created.headers.get('retry-after'), '7');
    assert.equal(((await created.json()) as ErrorBody).error.code, 'BACKPRESSURE');
    const chunk = await patch(service, agent, url, 0, pending.subarray(0, 100));
    assert.equal(chunk.status, 503);
    // HEAD sends no bytes: it is not held back (the upload itself may have expired by now: 1 s here).
    assert.notEqual((await offsetOf(service, agent, url)).status, 503);
  });
});
