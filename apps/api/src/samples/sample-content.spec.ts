import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Config } from '#config';
import { type Principal, SpecimenError } from '#contracts';
import type { AuditEntry, AuditRepository } from '#database';
import type { ObjectStore } from '#storage';
import { encryptedZipLength } from './encrypted-zip.js';
import { SampleContentService, hexRows } from './sample-content.service.js';
import type { SamplesService } from './samples.service.js';

describe('hexRows', () => {
  it('makes 16-byte rows with absolute offsets, hex and printable ASCII only', () => {
    const bytes = Buffer.from([...Buffer.from('Hello, world!\n'), 0x00, 0x7f, 0x80, 0xff, 0x20, 0x7e]);
    const rows = hexRows(bytes, 4096);
    assert.equal(rows.length, 2);
    assert.deepEqual(rows[0], {
      offset: 4096,
      hex: '48 65 6c 6c 6f 2c 20 77 6f 72 6c 64 21 0a 00 7f',
      ascii: 'Hello, world!...',
    });
    assert.deepEqual(rows[1], { offset: 4112, hex: '80 ff 20 7e', ascii: '.. ~' });
  });

  it('gives no rows for no bytes', () => {
    assert.deepEqual(hexRows(Buffer.alloc(0), 10), []);
  });
});

/** A sample of `size` bytes in a fake store, and a fake audit log whose commits wait until released. */
function downloadFixture(size = 100_000) {
  const sha256 = 'a'.repeat(64);
  const sources: Readable[] = [];
  const store = {
    localPath: () => null,
    get: () => {
      const source = Readable.from([Buffer.alloc(size, 7)]);
      sources.push(source);
      return Promise.resolve(source);
    },
  } as unknown as ObjectStore;
  // `satisfies` names the methods the service calls, so renaming one fails the build here, not the run.
  const samples = {
    object: () => Promise.resolve({ sha256, size, objectKey: `samples/${sha256}` }),
  } satisfies Pick<SamplesService, 'object'> as unknown as SamplesService;
  const commits: Array<{ entries: readonly AuditEntry[]; release: (error?: Error) => void }> = [];
  const audit = {
    appendCommitted: (entries: readonly AuditEntry[]) =>
      new Promise<number[]>((resolve, reject) => {
        commits.push({
          entries,
          release: (error) => (error === undefined ? resolve(entries.map((_, i) => i + 1)) : reject(error)),
        });
      }),
  } satisfies Pick<AuditRepository, 'appendCommitted'> as unknown as AuditRepository;
  const config = { download: { zipPassword: 'infected' } } as Config;
  const service = new SampleContentService(config, store, audit, samples);
  const principal = { tokenId: 't', name: 'analyst-one', role: 'analyst' } as Principal;
  return { service, principal, sha256, size, sources, commits };
}

const ticks = async (n = 20): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('SampleContentService.download', () => {
  it('hands out the archive only once its audit record has committed', async () => {
    const { service, principal, sha256, size, commits } = downloadFixture();
    let settled = false;
    const pending = service.download(sha256, principal).finally(() => (settled = true));
    await ticks();
    assert.equal(commits.length, 1);
    assert.equal(settled, false, 'no body before the commit');
    commits[0]?.release();
    const { body, length } = await pending;
    let bytes = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) bytes += chunk.length;
    assert.equal(bytes, length);
    assert.equal(length, encryptedZipLength({ name: sha256, size }));
  });

  it('refuses with AUDIT_UNAVAILABLE and closes the object when the record cannot be written', async () => {
    const { service, principal, sha256, sources, commits } = downloadFixture();
    const pending = service.download(sha256, principal);
    await ticks();
    commits[0]?.release(new Error('relation "audit_log" does not exist'));
    await assert.rejects(
      pending,
      (e: unknown) => e instanceof SpecimenError && e.code === 'AUDIT_UNAVAILABLE',
    );
    // The archive closes its source once its key derivation (on the thread pool) is done, which a loaded
    // machine may take longer than a few ticks for.
    for (let i = 0; i < 200 && sources[0]?.destroyed !== true; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(sources[0]?.destroyed, true);
  });

  it('commits the records of downloads that start during a commit together', async () => {
    const { service, principal, sha256, commits } = downloadFixture(10);
    const first = service.download(sha256, principal);
    await ticks();
    const others = [service.download(sha256, principal), service.download(sha256, principal)];
    await ticks();
    assert.deepEqual(
      commits.map((c) => c.entries.length),
      [1],
    );
    commits[0]?.release();
    await ticks();
    assert.deepEqual(
      commits.map((c) => c.entries.length),
      [1, 2],
    );
    commits[1]?.release();
    for (const download of [first, ...others]) (await download).body.destroy();
  });
});
