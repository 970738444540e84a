import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Response } from 'express';
import { sendStream } from './stream.js';

/** A server whose one route sends whatever `handle` is set to; the outcome of its sendStream is kept. */
function fixture() {
  let handle: (res: Response) => Promise<void> = () => Promise.resolve();
  let outcome: Promise<void> = Promise.resolve();
  const server: Server = createServer((_req, res: ServerResponse) => {
    outcome = handle(res as unknown as Response);
    outcome.catch(() => undefined);
  });
  return {
    server,
    set: (h: typeof handle) => (handle = h),
    outcome: () => outcome,
    url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
  };
}

function fetchAll(url: string): Promise<{ body: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    get(url, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ body: Buffer.concat(chunks), complete: res.complete }));
      res.on('error', () => resolve({ body: Buffer.concat(chunks), complete: false }));
    }).on('error', reject);
  });
}

describe('sendStream with release', () => {
  const f = fixture();
  before(() => new Promise<void>((resolve) => f.server.listen(0, '127.0.0.1', resolve)));
  after(() => new Promise<void>((resolve) => f.server.close(() => resolve())));

  it('sends every byte in order, and gives each chunk back only once the socket is done with it', async () => {
    const data = randomBytes(8 * 1024 * 1024 + 5);
    const released: Buffer[] = [];
    f.set((res) => {
      const pieces = Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) =>
        Buffer.from(data.subarray(i * 65536, (i + 1) * 65536)),
      );
      // Scribbling over a chunk as soon as it comes back shows up in the bytes received if it came back early.
      return sendStream(res, Readable.from(pieces), (chunk) => {
        chunk.fill(0);
        released.push(chunk);
      });
    });
    const { body, complete } = await fetchAll(f.url());
    await f.outcome();
    assert.equal(complete, true);
    assert.ok(body.equals(data), 'the bytes as sent');
    assert.equal(released.length, Math.ceil(data.length / 65536));
  });

  it('ends quietly and stops reading the body when the client hangs up', async () => {
    let body: Readable | undefined;
    f.set((res) => {
      let n = 0;
      body = new Readable({
        read() {
          this.push(Buffer.alloc(65536, n++ % 256));
        },
      });
      return sendStream(res, body, () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      const req = get(f.url(), (res) => {
        res.on('error', () => undefined);
        let got = 0;
        res.on('data', (c: Buffer) => {
          got += c.length;
          if (got > 1024 * 1024) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    });
    await f.outcome();
    assert.equal(body?.destroyed, true);
  });

  it('fails, cutting the connection, when the body fails', async () => {
    f.set((res) => {
      let n = 0;
      const body = new Readable({
        read() {
          if (n++ === 4) this.destroy(new Error('disk on fire'));
          else this.push(Buffer.alloc(65536, 1));
        },
      });
      return sendStream(res, body, () => undefined);
    });
    const { complete } = await fetchAll(f.url());
    assert.equal(complete, false);
    await assert.rejects(f.outcome(), /disk on fire/);
  });
});
