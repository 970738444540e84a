import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { CONSOLE_CSP, consoleHandler, isReservedPath } from './console.static.js';

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
    const handler = consoleHandler(dir);
    assert.ok(handler !== null);
    const app = express();
    app.use(handler);
    app.use((_req, res) => {
      res.status(404).json({ error: { code: 'NOT_FOUND' } });
    });
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
