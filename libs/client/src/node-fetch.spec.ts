import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createNodeFetch, nodeFetch } from './node-fetch.js';

describe('nodeFetch', () => {
  let server: Server;
  let base = '';
  const seen: Array<{ method: string; headers: IncomingMessage['headers']; body: Buffer }> = [];

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({ method: req.method ?? '', headers: req.headers, body });
        // Never answered: a frozen service, or a connection that died without a reset.
        if (req.url === '/hang') return;
        if (req.url === '/empty') {
          res.writeHead(204, { 'upload-offset': String(body.length) });
          res.end();
          return;
        }
        res.writeHead(req.url === '/missing' ? 404 : 200, {
          'content-type': 'application/json',
          'x-many': ['a', 'b'],
        });
        res.end(JSON.stringify({ length: body.length, type: req.headers['content-type'] ?? null }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });
  after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );

  it('sends a byte body with its length and the headers, and answers as fetch would', async () => {
    const bytes = new Uint8Array(Buffer.alloc(1024 * 1024 + 3, 7).buffer, 3, 1024 * 1024);
    const res = await nodeFetch(`${base}/x`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/offset+octet-stream', authorization: 'Bearer k' },
      body: bytes,
    });
    assert.equal(res.status, 200);
    assert.equal(res.ok, true);
    assert.equal(res.headers.get('x-many'), 'a, b');
    assert.deepEqual(await res.json(), { length: 1024 * 1024, type: 'application/offset+octet-stream' });
    const last = seen.at(-1);
    assert.equal(last?.method, 'PATCH');
    assert.equal(last.headers['content-length'], String(1024 * 1024));
    assert.equal(last.headers.authorization, 'Bearer k');
    assert.ok(last.body.equals(Buffer.from(bytes)));
  });

  it('gives HEAD, 204 and error answers as Responses, and a refused connection as a rejection', async () => {
    const empty = await nodeFetch(`${base}/empty`, { method: 'PATCH', body: 'abc' });
    assert.equal(empty.status, 204);
    assert.equal(empty.headers.get('upload-offset'), '3');
    assert.equal(empty.body, null);
    const head = await nodeFetch(`${base}/x`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    const missing = await nodeFetch(new URL(`${base}/missing`));
    assert.equal(missing.status, 404);
    assert.equal(missing.ok, false);
    await assert.rejects(nodeFetch('http://127.0.0.1:1/'));
  });

  it('fails a request on which no byte moves for the idle timeout, instead of waiting forever', async () => {
    const started = Date.now();
    await assert.rejects(createNodeFetch({ idleTimeoutMs: 300 })(`${base}/hang`, { method: 'HEAD' }), {
      code: 'ETIMEDOUT',
      message: 'no answer, and no byte moving, for 0.3 s',
    });
    assert.ok(Date.now() - started < 2000);
    // An answer in time is not cut.
    const res = await createNodeFetch({ idleTimeoutMs: 300 })(`${base}/x`, { method: 'PATCH', body: 'abc' });
    assert.equal(res.status, 200);
  });

  it('leaves other bodies (a multipart form) to the global fetch', async () => {
    const form = new FormData();
    form.append('metadata', '{}');
    const res = await nodeFetch(`${base}/form`, { method: 'POST', body: form });
    const answer = (await res.json()) as { type: string };
    assert.match(answer.type, /^multipart\/form-data; boundary=/);
  });
});
