import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createObjectStore, sampleKey } from '#storage';
import {
  EICAR,
  TestService,
  type TestS3Server,
  fileMetadata,
  pollUntil,
  sha256,
  startS3Server,
} from '#test-support';

const run = promisify(execFile);
const MiB = 1024 * 1024;

interface Audit {
  actorName: string;
  action: string;
  targetType: string;
  targetId: string | null;
  details: Record<string, unknown>;
}

/**
 * GET /v1/samples/:sha256/download with the S3 driver, against s3rver, through the API process: the
 * archive's source is then the network stream of a GetObject (not an open file, as with the fs driver).
 * Straight from s3rver, whose 64 KiB writes loopback mostly hands over whole, and through a proxy that
 * passes its answers on in pieces of a TCP segment, so that the network pieces straddle the archive's
 * 256 KiB chunks at no fixed places.
 */
for (const pieceBytes of [undefined, 1448]) {
  const source = pieceBytes === undefined ? 's3rver' : `s3rver, answers in ${pieceBytes}-byte pieces`;
  describe(`download over the S3 driver (${source})`, { timeout: 60_000 }, () => {
    let s3: TestS3Server;
    let service: TestService;
    let analyst = '';
    let tmp = '';
    const small = EICAR;
    // 13 MiB + 5 bytes: many network pieces, many 256 KiB chunks, a partial last chunk and a partial AES block.
    const big = randomBytes(13 * MiB + 5);
    const analystName = `analyst-s3-${randomBytes(3).toString('hex')}`;

    before(async () => {
      tmp = await mkdtemp(join(tmpdir(), 'specimen-s3dl-'));
      s3 = await startS3Server(undefined, pieceBytes === undefined ? {} : { pieceBytes });
      service = new TestService({ storageUrl: s3.url, scanner: false });
      try {
        await service.start();
      } catch (e) {
        await s3.close();
        throw e;
      }
      const agent = await service.token('agent');
      analyst = await service.token('analyst', analystName);
      for (const bytes of [small, big]) {
        const res = await service.submit(bytes, fileMetadata(bytes), agent);
        assert.equal(res.status, 201, await res.clone().text());
      }
    });
    after(async () => {
      await service?.stop();
      await s3?.close();
      await rm(tmp, { recursive: true, force: true });
    });

    /** The sample.download records of `sha` by the analyst. */
    async function downloadRecords(sha: string): Promise<Audit[]> {
      const res = await service.request('/v1/audit?action=sample.download&limit=500', {
        token: service.adminToken,
      });
      assert.equal(res.status, 200);
      const { items } = (await res.json()) as { items: Audit[] };
      return items.filter((a) => a.targetId === sha && a.actorName === analystName);
    }

    /** Downloads `sha` to a file, checks the headers, and returns the archive's path. */
    async function download(sha: string, name: string): Promise<string> {
      const res = await service.request(`/v1/samples/${sha}/download`, {
        token: analyst,
        signal: AbortSignal.timeout(20_000),
      });
      // The body first, whatever the answer: one left unread would keep a GetObject open in the API.
      assert.ok(res.body);
      const zip = join(tmp, name);
      await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(zip));
      assert.equal(res.status, 200, res.ok ? '' : await readFile(zip, 'utf8'));
      assert.equal(res.headers.get('content-type'), 'application/zip');
      assert.equal(res.headers.get('content-disposition'), `attachment; filename="${sha}.zip"`);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('content-length'), String((await stat(zip)).size));
      return zip;
    }

    /** Extracts the archive's one entry with 7-Zip and the password, and returns the entry's sha256. */
    async function extracted(zip: string, sha: string): Promise<string> {
      const out = `${zip}.out`;
      const listing = await run('7z', ['l', '-slt', zip]);
      assert.match(listing.stdout, /Method = AES-256/);
      await run('7z', ['x', '-pinfected', `-o${out}`, zip]);
      const hash = createHash('sha256');
      await pipeline(createReadStream(join(out, sha)), hash);
      return hash.digest('hex');
    }

    it('keeps the samples in the bucket, not on a local disk', async () => {
      assert.equal(service.storageDir, null);
      const store = await createObjectStore(s3.url);
      assert.equal(store.localPath(sampleKey(sha256(big))), null);
      assert.equal((await store.stat(sampleKey(sha256(small))))?.size, small.length);
      assert.equal((await store.stat(sampleKey(sha256(big))))?.size, big.length);
    });

    for (const [label, bytes] of [
      ['a 68-byte sample', small],
      ['a 13 MiB sample', big],
    ] as const) {
      it(`streams ${label} as an AES-256 ZIP that 7-Zip opens with the password, and audits it`, async () => {
        const sha = sha256(bytes);
        const before = (await downloadRecords(sha)).length;
        const zip = await download(sha, `${sha}.zip`);
        const archive = await readFile(zip);
        assert.ok(!archive.includes(bytes.subarray(0, 32)), 'the sample is not in the clear');
        assert.equal(await extracted(zip, sha), sha);
        await assert.rejects(run('7z', ['x', '-pwrong', `-o${zip}.bad`, zip]));
        const records = await downloadRecords(sha);
        assert.equal(records.length, before + 1, 'one sample.download record per download');
        assert.equal(records[0]?.targetType, 'sample');
        assert.equal(records[0]?.details.size, bytes.length);
        assert.equal(records[0]?.details.role, 'analyst');
      });
    }

    it('survives clients that hang up mid-download, leaving no GetObject open, and serves the next one', async () => {
      const sha = sha256(big);
      const url = new URL(`/v1/samples/${sha}/download`, service.baseUrl);
      const before = (await downloadRecords(sha)).length;
      const reads = () =>
        s3
          .requests()
          .filter((r) => r.method === 'GET' && new URL(r.url, url).pathname.endsWith(`/${sampleKey(sha)}`));
      // Hang-ups at the first bytes and further on, while the archive waits on the network or on the client
      // (well before the end: the object must still be on its way from s3rver).
      for (const hangUpAfter of [1, 512 * 1024, 2 * MiB]) {
        const readsBefore = reads().length;
        // A connection of its own, destroyed once `hangUpAfter` bytes of the body have arrived.
        const received = await new Promise<number>((resolve, reject) => {
          const req = httpRequest(url, { agent: false, headers: { authorization: `Bearer ${analyst}` } });
          req.once('error', reject);
          req.setTimeout(20_000, () => req.destroy(new Error('no answer within 20 s')));
          req.once('response', (res) => {
            if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
            res.once('end', () => reject(new Error('the body ended before the hang-up')));
            res.once('error', reject);
            let n = 0;
            res.on('data', (piece: Buffer) => {
              n += piece.length;
              if (n < hangUpAfter) return;
              req.destroy();
              resolve(n);
            });
          });
          req.end();
        });
        assert.ok(received >= hangUpAfter && received < big.length, `${received} bytes received`);
        assert.equal(reads().length, readsBefore + 1, 'one GetObject per download');
        const read = reads().at(-1)!;
        // Else the check below would pass whatever the API does with the body it stopped reading.
        assert.equal(read.answered, false, 'the GetObject is still streaming at the hang-up');
        // The hang-up destroys the archive and, through it, the GetObject body, which closes its connection.
        await pollUntil(() => Promise.resolve(read.open ? undefined : true), { timeoutMs: 10_000 }).catch(
          () => undefined,
        );
        assert.equal(
          read.open,
          false,
          `the GetObject's connection is still open after a hang-up at ${received} bytes`,
        );
      }
      assert.equal(service.api?.exitCode, null, service.output());
      assert.equal((await service.request('/health/live', { token: null })).status, 200);
      assert.equal((await downloadRecords(sha)).length, before + 3, 'a download is audited before its bytes');
      const zip = await download(sha, 'after-abort.zip');
      assert.equal(await extracted(zip, sha), sha);
      assert.ok(reads().at(-1)?.answered, 'the GetObject of the last download was answered in full');
    });
  });
}
