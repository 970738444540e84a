import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TestService } from '#test-support';

/** Everything the server sends on a raw connection until it closes it (or `waitMs` passes). */
function exchange(
  port: number,
  send: (write: (text: string) => void) => void,
  waitMs: number,
): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false, ms: Date.now() - started });
    }, waitMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true, ms: Date.now() - started });
    });
    socket.on('connect', () => send((t) => socket.write(t)));
  });
}

describe('HTTP limits: a small JSON body has JSON_BODY_TIMEOUT_MS to arrive', () => {
  const service = new TestService({ scanner: false, env: { JSON_BODY_TIMEOUT_MS: '1000' } });
  let port = 0;

  before(async () => {
    await service.start();
    port = Number(new URL(service.baseUrl).port);
  });

  after(() => service.stop());

  const head = (length: number) =>
    `POST /v1/agents/enroll HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

  it('answers 408 REQUEST_TIMEOUT and closes the connection when the body trickles (enrollment reads it before any token)', async () => {
    const { text, closed, ms } = await exchange(
      port,
      (write) => {
        write(head(200));
        write('{"enrollmentToken":');
      },
      10_000,
    );
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.match(text, /"code":"REQUEST_TIMEOUT"/);
    assert.ok(closed, 'the connection is closed');
    assert.ok(ms >= 900 && ms < 8_000, `after ${ms} ms`);
  });

  it('leaves a body that arrives in time to its route', async () => {
    const body = JSON.stringify({
      enrollmentToken: 'x'.repeat(40),
      product: { name: 'p', version: '1' },
      os: { family: 'linux', version: '6' },
    });
    const { text, closed } = await exchange(
      port,
      (write) => {
        write(head(Buffer.byteLength(body)));
        setTimeout(() => write(body), 300);
      },
      2_500,
    );
    // The route's own answer (an unknown enrollment token), and the connection stays open after it.
    assert.match(text, /^HTTP\/1\.1 (400|401) /);
    assert.doesNotMatch(text, /REQUEST_TIMEOUT/);
    assert.equal(closed, false);
  });
});
