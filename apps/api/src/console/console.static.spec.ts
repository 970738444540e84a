import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import express from 'express';
import { CONSOLE_CSP, acceptedCodings, consoleHandler, isReservedPath } from './console.static.js';

/** The raw answer (node:http, which, unlike fetch, leaves a compressed body as it came). */
function raw(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    }).on('error', reject);
  });
}

const BIG_JS = Buffer.from(
  'export const rows = [' + Array.from({ length: 400 }, (_, i) => `"row ${i}"`).join(',') + '];\n',
);

describe('console static handler', () => {
  let dir: string;
  let base: string;
  let close: () => void;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'console-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
    await writeFile(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
    await writeFile(join(dir, 'favicon.svg'), '<svg/>');
    // As the build leaves them (apps/console/precompress.ts): the file and its brotli and gzip copies.
    await writeFile(join(dir, 'assets', 'rows-def456.js'), BIG_JS);
    await writeFile(join(dir, 'assets', 'rows-def456.js.br'), brotliCompressSync(BIG_JS));
    await writeFile(join(dir, 'assets', 'rows-def456.js.gz'), gzipSync(BIG_JS));
    // A gzip copy only: browsers that take brotli get it.
    await writeFile(join(dir, 'assets', 'gz-only-789.css'), BIG_JS);
    await writeFile(join(dir, 'assets', 'gz-only-789.css.gz'), gzipSync(BIG_JS));
    const handler = consoleHandler(dir);
    assert.ok(handler !== null);
    const app = express();
    app.use(handler);
    app.use((_req, res) => {
      res.status(404).json({ error: { code: 'NOT_FOUND' } });
    });
    // As the API's exception filter does: a JSON error, whatever headers the handler had set.
    app.use(
      (
        err: { status?: number },
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction,
      ) => {
        res.status(err.status ?? 500).json({ error: { code: 'NOT_FOUND' } });
      },
    );
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  after(async () => {
    close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves index.html at / and at console routes, with the CSP and no-cache', async () => {
    for (const path of [
      '/',
      '/samples',
      '/samples/275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f',
    ]) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(await res.text(), /id="root"/);
      assert.equal(res.headers.get('content-security-policy'), CONSOLE_CSP);
      assert.equal(res.headers.get('cache-control'), 'no-cache');
    }
  });

  it('serves hashed assets as immutable and other files as no-cache', async () => {
    const js = await fetch(`${base}/assets/index-abc123.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const icon = await fetch(`${base}/favicon.svg`);
    assert.equal(icon.headers.get('cache-control'), 'no-cache');
  });

  it('never shadows the API, its docs, metrics or health, and 404s unknown assets', async () => {
    for (const path of [
      '/v1',
      '/v1/samples',
      '/docs',
      '/docs/openapi.json',
      '/metrics',
      '/health/ready',
      '/healthz',
    ]) {
      const res = await fetch(`${base}${path}`, { headers: { accept: 'text/html' } });
      assert.equal(res.status, 404, path);
    }
    assert.equal((await fetch(`${base}/assets/index-old.js`)).status, 404);
    assert.equal((await fetch(`${base}/robots.txt`)).status, 404);
    assert.equal((await fetch(`${base}/`, { method: 'POST' })).status, 404);
  });

  it('takes no file path from the request', async () => {
    const res = await fetch(`${base}/assets/..%2f..%2fetc%2fpasswd`);
    assert.equal(res.status, 404);
  });

  it("sends the build's compressed copy the request accepts, best first, and the file itself otherwise", async () => {
    const url = `${base}/assets/rows-def456.js`;
    const br = await raw(url, { 'accept-encoding': 'gzip, deflate, br, zstd' });
    assert.equal(br.status, 200);
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.headers.vary, 'Accept-Encoding');
    assert.match(String(br.headers['content-type']), /^text\/javascript/);
    assert.equal(br.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.ok(br.body.length < BIG_JS.length / 3, `${br.body.length} bytes of ${BIG_JS.length}`);
    assert.deepEqual(brotliDecompressSync(br.body), BIG_JS);

    const gz = await raw(url, { 'accept-encoding': 'gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.deepEqual(gunzipSync(gz.body), BIG_JS);
    const notBr = await raw(url, { 'accept-encoding': 'br;q=0, *' });
    assert.equal(notBr.headers['content-encoding'], 'gzip');

    const uncompressed: Array<Record<string, string>> = [
      {},
      { 'accept-encoding': 'identity' },
      { 'accept-encoding': 'gzip;q=0, br;q=0' },
    ];
    for (const headers of uncompressed) {
      const plain = await raw(url, headers);
      assert.equal(plain.headers['content-encoding'], undefined, JSON.stringify(headers));
      assert.equal(plain.headers.vary, 'Accept-Encoding');
      assert.deepEqual(plain.body, BIG_JS);
    }
    const css = await raw(`${base}/assets/gz-only-789.css`, { 'accept-encoding': 'br, gzip' });
    assert.equal(css.headers['content-encoding'], 'gzip');
    assert.match(String(css.headers['content-type']), /^text\/css/);
    assert.deepEqual(gunzipSync(css.body), BIG_JS);

    const head = await fetch(url, { method: 'HEAD', headers: { 'accept-encoding': 'br' } });
    assert.equal(head.headers.get('content-encoding'), 'br');
    // Without copies nothing varies.
    assert.equal(
      (await raw(`${base}/assets/index-abc123.js`, { 'accept-encoding': 'br' })).headers.vary,
      undefined,
    );
  });

  it('tags each copy by its coding, and a copy gone since the start gets no coding on its error', async () => {
    const url = `${base}/assets/rows-def456.js`;
    const tags: string[] = [];
    for (const coding of ['identity', 'br', 'gzip']) {
      const res = await raw(url, { 'accept-encoding': coding });
      assert.equal(res.headers['content-encoding'], coding === 'identity' ? undefined : coding);
      tags.push(String(res.headers.etag));
      const again = await raw(url, { 'accept-encoding': coding, 'if-none-match': String(res.headers.etag) });
      assert.equal(again.status, 304, `${coding}: a conditional request with its own tag`);
    }
    assert.equal(new Set(tags).size, 3, tags.join(' '));
    assert.match(tags[1] ?? '', /-br"$/);

    await rm(join(dir, 'assets', 'gz-only-789.css.gz'));
    const gone = await raw(`${base}/assets/gz-only-789.css`, { 'accept-encoding': 'gzip' });
    assert.equal(gone.status, 404);
    assert.equal(gone.headers['content-encoding'], undefined, 'an error body is not gzip');
    assert.deepEqual(JSON.parse(gone.body.toString()), { error: { code: 'NOT_FOUND' } });
    assert.doesNotMatch(String(gone.headers.etag), /-gzip"$/, "nor the copy's tag");
    await writeFile(join(dir, 'assets', 'gz-only-789.css.gz'), gzipSync(BIG_JS));
  });

  it('never serves a compressed copy under its own name', async () => {
    for (const path of [
      '/assets/rows-def456.js.br',
      '/assets/rows-def456.js.gz',
      '/assets/gz-only-789.css.gz',
    ]) {
      assert.equal((await fetch(`${base}${path}`)).status, 404, path);
    }
  });

  it('reads Accept-Encoding with its weights', () => {
    assert.deepEqual([...acceptedCodings(undefined)], []);
    assert.deepEqual([...acceptedCodings('gzip, deflate, br')].sort(), ['br', 'deflate', 'gzip']);
    assert.deepEqual([...acceptedCodings('BR;Q=0.5 , gzip;q=0')], ['br']);
    assert.deepEqual([...acceptedCodings('*')].sort(), ['br', 'gzip']);
    assert.deepEqual([...acceptedCodings('*;q=0, gzip')], ['gzip']);
    assert.deepEqual([...acceptedCodings('br;q=0, *')], ['gzip']);
    assert.deepEqual([...acceptedCodings('gzip;q=nonsense')], []);
    assert.deepEqual([...acceptedCodings('x-gzip')], ['gzip']);
  });

  it('tells reserved paths apart', () => {
    assert.equal(isReservedPath('/v1/me'), true);
    assert.equal(isReservedPath('/docs'), true);
    assert.equal(isReservedPath('/v10'), false);
    assert.equal(isReservedPath('/samples'), false);
  });

  it('is absent when the console is not built', () => {
    assert.equal(consoleHandler(join(dir, 'missing')), null);
  });
});
