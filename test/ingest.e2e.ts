import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createObjectStore } from '#storage';
import {
  EICAR,
  TestService,
  benign,
  fileMetadata,
  listFiles,
  md5,
  multipartHead,
  multipartType,
  pollUntil,
  query,
  sha1,
  sha256,
  startS3Server,
} from '#test-support';

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

const MiB = 1024 * 1024;

for (const driver of ['fs', 's3'] as const) {
  describe(`ingest → scan → verdict (${driver} storage)`, () => {
    let service: TestService;
    let closeS3 = async () => {};
    let agent = '';
    let analyst = '';

    before(async () => {
      const s3 = driver === 's3' ? await startS3Server() : null;
      if (s3 !== null) closeS3 = () => s3.close();
      service = new TestService({
        env: { UPLOAD_MAX_BYTES: String(2 * MiB) },
        ...(s3 === null ? {} : { storageUrl: s3.url }),
      });
      await service.start();
      agent = await service.token('agent');
      analyst = await service.token('analyst');
    });
    after(async () => {
      await service.stop();
      await closeS3();
    });

    /**
     * Objects under samples/ and anything else left in the store: temporary uploads and, for the fs
     * driver, partial files in its own temporary folder.
     */
    async function stored(): Promise<{ samples: string[]; other: string[] }> {
      const store = await createObjectStore(service.storageUrl);
      const keys: string[] = [];
      for await (const o of store.list('')) keys.push(o.key);
      if (service.storageDir !== null)
        keys.push(...(await listFiles(service.storageDir)).filter((f) => !keys.includes(f)));
      keys.sort();
      return {
        samples: keys.filter((f) => f.startsWith('samples/')),
        other: keys.filter((f) => !f.startsWith('samples/')),
      };
    }

    async function submissionStatus(
      id: string,
      token = analyst,
    ): Promise<{ status: string; verdict: string | null }> {
      const res = await service.request(`/v1/submissions/${id}`, { token });
      assert.equal(res.status, 200);
      return (await res.json()) as { status: string; verdict: string | null };
    }

    it('scans EICAR and reports it malicious', async () => {
      const res = await service.submit(
        EICAR,
        fileMetadata(EICAR, { filename: 'C:\\temp\\eicar.com' }),
        agent,
      );
      assert.equal(res.status, 201, await res.clone().text());
      assert.ok(res.headers.get('x-request-id'));
      const body = (await res.json()) as { submissionId: string; sha256: string; duplicate: boolean };
      assert.equal(body.sha256, sha256(EICAR));
      assert.equal(body.duplicate, false);

      const done = await pollUntil(
        async () => {
          const s = await submissionStatus(body.submissionId, agent);
          return s.status === 'scanned' || s.status === 'failed' ? s : undefined;
        },
        { what: 'the EICAR scan' },
      );
      assert.deepEqual(done, { ...done, status: 'scanned', verdict: 'malicious' });

      const sample = await service.request(`/v1/samples/${body.sha256}`, { token: analyst });
      assert.equal(sample.status, 200);
      const view = (await sample.json()) as {
        md5: string;
        sha1: string;
        size: number;
        verdict: string;
        scanStatus: string;
        sightings: number;
        rulesetVersion: number;
        matches: Array<{ rule: string; strings: Array<{ offset: number; length: number }> }>;
      };
      assert.equal(view.md5, md5(EICAR));
      assert.equal(view.sha1, sha1(EICAR));
      assert.equal(view.size, EICAR.length);
      assert.equal(view.verdict, 'malicious');
      assert.equal(view.scanStatus, 'scanned');
      assert.equal(view.rulesetVersion, 1);
      assert.ok(
        view.matches.some((m) => /eicar/i.test(m.rule) && m.strings.some((s) => s.offset === 0)),
        JSON.stringify(view.matches),
      );
      assert.deepEqual(
        (await stored()).samples.filter((f) => f.endsWith(body.sha256)),
        [`samples/${body.sha256.slice(0, 2)}/${body.sha256.slice(2, 4)}/${body.sha256}`],
      );
    });

    it('reports benign bytes clean', async () => {
      const bytes = benign(8192);
      const res = await service.submit(bytes, fileMetadata(bytes), agent);
      assert.equal(res.status, 201);
      const { submissionId } = (await res.json()) as { submissionId: string };
      const done = await pollUntil(async () => {
        const s = await submissionStatus(submissionId);
        return s.status === 'scanned' ? s : undefined;
      });
      assert.equal(done.verdict, 'clean');
    });

    it('stores a sample sent twice once, with two sightings and one scan', async () => {
      const bytes = benign(5000);
      const first = await service.submit(bytes, fileMetadata(bytes), agent);
      assert.equal(first.status, 201);
      const second = await service.submit(bytes, fileMetadata(bytes, { filename: 'other-name.exe' }), agent);
      assert.equal(second.status, 200);
      const body = (await second.json()) as { duplicate: boolean; submissionId: string };
      assert.equal(body.duplicate, true);
      await pollUntil(async () =>
        (await submissionStatus(body.submissionId)).status === 'scanned' ? true : undefined,
      );
      const [row] = await query<{ sightings: number; scans: string; submissions: string }>(
        service.databaseUrl,
        `select s.sightings,
              (select count(*) from scans where sample_sha256 = s.sha256) as scans,
              (select count(*) from submissions where sample_sha256 = s.sha256) as submissions
         from samples s where s.sha256 = $1`,
        [sha256(bytes)],
      );
      assert.deepEqual(row, { sightings: 2, scans: '1', submissions: '2' });
    });

    /** A multipart upload with an `Idempotency-Key` (none when `key` is null). */
    async function submitKeyed(
      key: string | null,
      bytes: Buffer,
      metadata: Record<string, unknown>,
      token = agent,
    ): Promise<Response> {
      const form = new FormData();
      form.append('metadata', JSON.stringify(metadata));
      form.append('file', new Blob([bytes]), 'upload.bin');
      return service.request('/v1/submissions', {
        method: 'POST',
        body: form,
        token,
        ...(key === null ? {} : { headers: { 'idempotency-key': key } }),
      });
    }

    /** The sample's sightings and its submission rows. */
    async function recorded(bytes: Buffer): Promise<{ sightings: number; submissions: string } | undefined> {
      const [row] = await query<{ sightings: number; submissions: string }>(
        service.databaseUrl,
        `select s.sightings, (select count(*) from submissions where sample_sha256 = s.sha256) as submissions
         from samples s where s.sha256 = $1`,
        [sha256(bytes)],
      );
      return row;
    }

    it('answers an upload retried with its Idempotency-Key with the first submission, recorded once', async () => {
      const bytes = benign(4000);
      const metadata = fileMetadata(bytes);
      const key = randomUUID();
      const first = await submitKeyed(key, bytes, metadata);
      assert.equal(first.status, 201, await first.clone().text());
      assert.equal(first.headers.get('idempotent-replayed'), null);
      const created = (await first.json()) as { submissionId: string; sha256: string; duplicate: boolean };
      // The answer was lost on the way: the client sends the same upload again, with the same key.
      const again = await submitKeyed(key, bytes, metadata);
      assert.equal(again.status, 201, await again.clone().text());
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(await again.json(), created);
      assert.deepEqual(await recorded(bytes), { sightings: 1, submissions: '1' });
      assert.equal((await stored()).samples.filter((f) => f.endsWith(sha256(bytes))).length, 1);

      // The key of another agent is another key: its upload of the same bytes is a sighting of its own.
      const other = await submitKeyed(key, bytes, metadata, await service.token('agent'));
      assert.equal(other.status, 200);
      assert.notEqual(((await other.json()) as { submissionId: string }).submissionId, created.submissionId);
      assert.deepEqual(await recorded(bytes), { sightings: 2, submissions: '2' });
    });

    it('refuses an Idempotency-Key used again for other bytes or other metadata with 422, recording nothing', async () => {
      const bytes = benign(4100);
      const key = randomUUID();
      assert.equal((await submitKeyed(key, bytes, fileMetadata(bytes))).status, 201);
      const otherBytes = benign(4100);
      const refused = await submitKeyed(key, otherBytes, fileMetadata(otherBytes));
      assert.equal(refused.status, 422);
      const body = (await refused.json()) as ErrorBody;
      assert.equal(body.error.code, 'IDEMPOTENCY_KEY_REUSED');
      assert.equal(body.error.details?.field, 'sha256');
      assert.equal(await recorded(otherBytes), undefined);
      const renamed = await submitKeyed(key, bytes, fileMetadata(bytes, { filename: 'renamed.exe' }));
      assert.equal(renamed.status, 422);
      assert.equal(((await renamed.json()) as ErrorBody).error.details?.field, 'metadata');
      assert.deepEqual(await recorded(bytes), { sightings: 1, submissions: '1' });
      // Malformed keys are refused before the body is read.
      for (const bad of ['', 'tus:x', 'a'.repeat(256), 'with space']) {
        const res = await submitKeyed(bad, bytes, fileMetadata(bytes));
        assert.equal(res.status, 400, JSON.stringify(bad));
        assert.equal(((await res.json()) as ErrorBody).error.code, 'VALIDATION_FAILED');
      }
    });

    it('records one submission for concurrent uploads with the same Idempotency-Key, and two without one', async () => {
      const bytes = benign(4200);
      const metadata = fileMetadata(bytes);
      const key = randomUUID();
      const answers = await Promise.all(Array.from({ length: 6 }, () => submitKeyed(key, bytes, metadata)));
      const bodies = await Promise.all(
        answers.map(async (res) => {
          assert.equal(res.status, 201, await res.clone().text());
          return (await res.json()) as { submissionId: string };
        }),
      );
      assert.equal(new Set(bodies.map((b) => b.submissionId)).size, 1);
      assert.equal(answers.filter((res) => res.headers.get('idempotent-replayed') === 'true').length, 5);
      assert.deepEqual(await recorded(bytes), { sightings: 1, submissions: '1' });

      // Without the header, as before: each upload is a sighting.
      const plain = benign(4300);
      assert.equal((await submitKeyed(null, plain, fileMetadata(plain))).status, 201);
      assert.equal((await submitKeyed(null, plain, fileMetadata(plain))).status, 200);
      assert.deepEqual(await recorded(plain), { sightings: 2, submissions: '2' });
    });

    it('refuses a wrong sha256 with 422 and keeps nothing: no object, no row, no job', async () => {
      const bytes = benign(3000);
      const wrong = sha256(benign(10));
      const before = await stored();
      const res = await service.submit(bytes, fileMetadata(bytes, { sha256: wrong }), agent);
      assert.equal(res.status, 422);
      const body = (await res.json()) as ErrorBody;
      assert.equal(body.error.code, 'CHECKSUM_MISMATCH');
      assert.equal(body.error.details?.field, 'sha256');
      assert.equal(body.error.details?.actual, sha256(bytes));
      assert.deepEqual(await stored(), before);
      for (const h of [wrong, sha256(bytes)]) {
        const rows = await query(service.databaseUrl, 'select 1 from samples where sha256 = $1', [h]);
        assert.equal(rows.length, 0);
      }
      const jobs = await query(service.databaseUrl, `select 1 from outbox where payload->>'sha256' = $1`, [
        sha256(bytes),
      ]);
      assert.equal(jobs.length, 0);
      const { Queue } = await import('bullmq');
      const queue = new Queue('scan', {
        connection: { url: 'redis://127.0.0.1:6379' },
        prefix: service.queuePrefix,
      });
      try {
        const jobs = await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
        assert.equal(jobs.filter((j) => (j.data as { sha256?: string }).sha256 === sha256(bytes)).length, 0);
      } finally {
        await queue.close();
      }
    });

    it('refuses text PostgreSQL cannot store (NUL, an unpaired surrogate) with 400 and keeps nothing', async () => {
      for (const filename of ['a\u0000b', 'a\ud800b']) {
        const bytes = benign(500);
        const before = await stored();
        const res = await service.submit(bytes, fileMetadata(bytes, { filename }), agent);
        // It was a 500 from the INSERT, after the object had been promoted (left without a row).
        assert.equal(res.status, 400, JSON.stringify(filename));
        const body = (await res.json()) as ErrorBody;
        assert.equal(body.error.code, 'VALIDATION_FAILED');
        assert.match(body.error.message, /metadata\.filename/);
        assert.deepEqual(await stored(), before);
        assert.equal(
          (await query(service.databaseUrl, 'select 1 from samples where sha256 = $1', [sha256(bytes)]))
            .length,
          0,
        );
      }
    });

    it('removes the object of an upload whose rows could not be written', async () => {
      // A database failure at the upload's INSERT, for this file name only.
      await query(
        service.databaseUrl,
        `create function fail_marked_upload() returns trigger language plpgsql as $$
         begin
           if new.filename = 'fail-this-insert' then raise exception 'test: the insert fails'; end if;
           return new;
         end $$`,
      );
      await query(
        service.databaseUrl,
        `create trigger fail_marked_upload before insert on submissions
         for each row execute function fail_marked_upload()`,
      );
      try {
        const bytes = benign(700);
        const before = await stored();
        const res = await service.submit(bytes, fileMetadata(bytes, { filename: 'fail-this-insert' }), agent);
        assert.equal(res.status, 500);
        // Promoted before the statement, then tombstoned and drained: it stayed without a row before. The
        // drain deletes the object, then its tombstone: both are awaited.
        await pollUntil(
          async () =>
            JSON.stringify(await stored()) === JSON.stringify(before) &&
            (await query(service.databaseUrl, 'select 1 from object_tombstones')).length === 0
              ? true
              : undefined,
          { what: 'the unrecorded object and its tombstone removed' },
        );
      } finally {
        await query(service.databaseUrl, 'drop trigger fail_marked_upload on submissions');
        await query(service.databaseUrl, 'drop function fail_marked_upload()');
      }
      // Uploads go on as before once the database takes them.
      const bytes = benign(700);
      const again = await service.submit(bytes, fileMetadata(bytes), agent);
      assert.equal(again.status, 201);
      assert.ok((await stored()).samples.some((k) => k.endsWith(sha256(bytes))));
    });

    it('refuses a wrong md5, sha1 or size', async () => {
      const bytes = benign(100);
      const cases: Array<[Record<string, unknown>, string, string]> = [
        [{ md5: md5(benign(1)) }, 'CHECKSUM_MISMATCH', 'md5'],
        [{ sha1: sha1(benign(1)) }, 'CHECKSUM_MISMATCH', 'sha1'],
        [{ size: 99 }, 'SIZE_MISMATCH', 'size'],
      ];
      for (const [override, code, field] of cases) {
        const res = await service.submit(bytes, fileMetadata(bytes, override), agent);
        assert.equal(res.status, 422);
        const body = (await res.json()) as ErrorBody;
        assert.equal(body.error.code, code);
        assert.equal(body.error.details?.field, field);
      }
      assert.deepEqual((await stored()).other, []);
    });

    it('accepts each kind with valid metadata and names the field of invalid metadata', async () => {
      const sectors = Buffer.alloc(1024);
      sectors[510] = 0x55;
      sectors[511] = 0xaa;
      sectors.write(benign(16).toString('hex'), 0);
      const region = benign(4096);
      const fragment = benign(512);
      const valid: Array<[Buffer, Record<string, unknown>]> = [
        [benign(64), { kind: 'file', filename: 'x.exe', path: 'C:\\Users\\bob\\x.exe' }],
        [
          fragment,
          {
            kind: 'file-fragment',
            parent: { sha256: sha256(benign(8)), size: 10_000 },
            offset: 512,
            length: 512,
          },
        ],
        [
          region,
          {
            kind: 'memory-region',
            process: { pid: 4242, image: 'C:\\Windows\\System32\\svchost.exe' },
            baseAddress: '0x7ff6a0000000',
            regionSize: 4096,
            protection: 'RWX',
          },
        ],
        [sectors, { kind: 'boot-record', device: 0, lba: 0, sectorSize: 512, scheme: 'mbr' }],
      ];
      for (const [bytes, meta] of valid) {
        const metadata = { ...meta, sha256: sha256(bytes), size: bytes.length };
        const res = await service.submit(bytes, metadata, agent);
        assert.equal(res.status, 201, `${String(meta.kind)}: ${await res.clone().text()}`);
      }
      const invalid: Array<[Record<string, unknown>, string]> = [
        [{ kind: 'file', size: 'ten' }, 'metadata.size'],
        [
          { kind: 'file-fragment', parent: { sha256: 'zz', size: 1 }, offset: 0, length: 64 },
          'metadata.parent.sha256',
        ],
        [
          {
            kind: 'memory-region',
            process: { pid: 1, image: 'x' },
            baseAddress: '7ff',
            regionSize: 64,
            protection: 'RWX',
          },
          'metadata.baseAddress',
        ],
        [{ kind: 'boot-record', device: 0, lba: 0, sectorSize: 1000, scheme: 'mbr' }, 'metadata.sectorSize'],
        [{ kind: 'floppy' }, 'metadata.kind'],
        [{ kind: 'file', unexpected: true }, 'metadata.unexpected'],
      ];
      const bytes = benign(64);
      for (const [meta, field] of invalid) {
        const res = await service.submit(bytes, { sha256: sha256(bytes), size: 64, ...meta }, agent);
        assert.equal(res.status, 400, JSON.stringify(meta));
        const body = (await res.json()) as ErrorBody;
        assert.equal(body.error.code, 'VALIDATION_FAILED');
        const fields = (body.error.details?.issues as Array<{ field: string }>).map((i) => i.field);
        assert.ok(fields.includes(field), `${field} not in ${fields.join(', ')}`);
      }
      assert.deepEqual((await stored()).other, []);
    });

    it('answers each malformed upload with a clear 4xx and leaves no temporary object', async () => {
      const bytes = benign(1000);
      const meta = JSON.stringify(fileMetadata(bytes));
      const expect = async (res: Response, status: number, code: string) => {
        const text = await res.text();
        assert.equal(res.status, status, text);
        assert.equal((JSON.parse(text) as ErrorBody).error.code, code);
      };

      // missing file part
      const noFile = new FormData();
      noFile.append('metadata', meta);
      await expect(
        await service.request('/v1/submissions', { method: 'POST', body: noFile, token: agent }),
        400,
        'MISSING_FILE',
      );

      // file before metadata
      const reversed = new FormData();
      reversed.append('file', new Blob([bytes]), 'a.bin');
      reversed.append('metadata', meta);
      await expect(
        await service.request('/v1/submissions', { method: 'POST', body: reversed, token: agent }),
        400,
        'VALIDATION_FAILED',
      );

      // two files
      const two = new FormData();
      two.append('metadata', meta);
      two.append('file', new Blob([bytes]), 'a.bin');
      two.append('file', new Blob([bytes]), 'b.bin');
      await expect(
        await service.request('/v1/submissions', { method: 'POST', body: two, token: agent }),
        400,
        'UNEXPECTED_FIELD',
      );

      // the metadata as a file part (curl -F metadata=@meta.json): said so, with what to do
      const metaFile = new FormData();
      metaFile.append('metadata', new Blob([meta]), 'meta.json');
      metaFile.append('file', new Blob([bytes]), 'a.bin');
      const asFile = await service.request('/v1/submissions', {
        method: 'POST',
        body: metaFile,
        token: agent,
      });
      assert.match(JSON.stringify(await asFile.clone().json()), /send it as a text field/);
      await expect(asFile, 400, 'UNEXPECTED_FIELD');

      // another text field, before or after the file: refused, and nothing stored
      for (const where of ['before', 'after'] as const) {
        const extra = new FormData();
        extra.append('metadata', meta);
        if (where === 'before') extra.append('foo', 'bar');
        extra.append('file', new Blob([bytes]), 'a.bin');
        if (where === 'after') extra.append('foo', 'bar');
        const res = await service.request('/v1/submissions', { method: 'POST', body: extra, token: agent });
        assert.match(JSON.stringify(await res.clone().json()), /send one text field, \\"metadata\\"/, where);
        await expect(res, 400, 'UNEXPECTED_FIELD');
        const rows = await query(service.databaseUrl, 'select 1 from samples where sha256 = $1', [
          sha256(bytes),
        ]);
        assert.equal(rows.length, 0, `nothing stored with a field ${where} the file`);
      }

      // empty file
      const empty = Buffer.alloc(0);
      await expect(await service.submit(empty, fileMetadata(empty), agent), 400, 'EMPTY_FILE');

      // oversized: declared size over the limit is refused before the bytes are stored...
      const big = Buffer.alloc(2 * MiB + 1, 7);
      await expect(await service.submit(big, fileMetadata(big), agent), 413, 'FILE_TOO_LARGE');
      // ...and a body larger than the limit is cut off while streaming even if the declared size lies.
      await expect(await service.submit(big, fileMetadata(big, { size: 100 }), agent), 413, 'FILE_TOO_LARGE');

      // not multipart
      await expect(
        await service.request('/v1/submissions', {
          method: 'POST',
          body: JSON.stringify({ hello: 1 }),
          headers: { 'content-type': 'application/json' },
          token: agent,
        }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );

      // truncated body: the multipart stream ends before its closing boundary
      const boundary = 'specimen-boundary';
      const truncated = Buffer.concat([
        multipartHead(boundary, fileMetadata(bytes), 'a.bin'),
        bytes.subarray(0, 500),
      ]);
      await expect(
        await service.request('/v1/submissions', {
          method: 'POST',
          body: truncated,
          headers: { 'content-type': multipartType(boundary) },
          token: agent,
        }),
        400,
        'MALFORMED_BODY',
      );

      const live = await service.request('/health/live', { token: null });
      assert.equal(live.status, 200);
      assert.equal(service.api?.exitCode, null);
      await pollUntil(async () => ((await stored()).other.length === 0 ? true : undefined), {
        what: 'no temporary objects',
      });
    });

    it('leaves nothing behind when the client disconnects mid-upload', async () => {
      const bytes = benign(MiB);
      const boundary = 'specimen-abort';
      const head = multipartHead(boundary, fileMetadata(bytes), 'a.bin');
      const url = new URL('/v1/submissions', service.baseUrl);
      await new Promise<void>((resolve) => {
        const req = httpRequest(url, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${agent}`,
            'content-type': multipartType(boundary),
            'content-length': String(head.length + bytes.length + 100),
          },
        });
        req.on('error', () => resolve());
        req.write(head);
        req.write(bytes.subarray(0, 300_000), () => {
          // Give the server time to start writing the temporary object, then vanish.
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 300);
        });
      });
      await pollUntil(async () => ((await stored()).other.length === 0 ? true : undefined), {
        what: 'the temporary object to go',
      });
      const rows = await query(service.databaseUrl, 'select 1 from samples where sha256 = $1', [
        sha256(bytes),
      ]);
      assert.equal(rows.length, 0);
      assert.equal((await service.request('/health/live', { token: null })).status, 200);
    });

    it('enforces roles: no token 401, analyst cannot submit, agent cannot read samples or others’ submissions', async () => {
      const bytes = benign(256);
      assert.equal((await service.submit(bytes, fileMetadata(bytes), 'nope')).status, 401);
      const noToken = await service.request('/v1/samples/' + sha256(bytes), { token: null });
      assert.equal(noToken.status, 401);
      assert.equal(((await noToken.json()) as ErrorBody).error.code, 'UNAUTHENTICATED');
      const byAnalyst = await service.submit(bytes, fileMetadata(bytes), analyst);
      assert.equal(byAnalyst.status, 403);
      const mine = await service.submit(bytes, fileMetadata(bytes), agent);
      assert.equal(mine.status, 201);
      const { submissionId, sha256: hash } = (await mine.json()) as { submissionId: string; sha256: string };
      assert.equal((await service.request(`/v1/samples/${hash}`, { token: agent })).status, 403);
      assert.equal((await service.request(`/v1/submissions/${submissionId}`, { token: agent })).status, 200);
      const otherAgent = await service.token('agent');
      assert.equal(
        (await service.request(`/v1/submissions/${submissionId}`, { token: otherAgent })).status,
        404,
      );
      assert.equal((await service.request('/v1/tokens', { method: 'POST', token: analyst })).status, 403);
      assert.equal((await service.request('/v1/samples/not-a-hash', { token: analyst })).status, 400);
      assert.equal(
        (await service.request(`/v1/samples/${sha256(benign(4))}`, { token: analyst })).status,
        404,
      );
    });
  });
}
