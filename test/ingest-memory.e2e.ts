import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { TestService, fileMetadata, multipartHead, multipartTail, openSubmission } from '#test-support';

const MiB = 1024 * 1024;
const SIZE = 512 * MiB;

const statusMb = (pid: number, field: string): number =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

/**
 * `POST /v1/submissions` of `bytes` on a connection of its own (no keep-alive reuse), written straight
 * from the buffer: resolves with the status and body.
 */
function upload(baseUrl: string, token: string, bytes: Buffer): Promise<{ status: number; body: string }> {
  const boundary = `memory${randomBytes(8).toString('hex')}`;
  const head = multipartHead(boundary, fileMetadata(bytes));
  const tail = multipartTail(boundary);
  const { req, answer } = openSubmission(
    baseUrl,
    token,
    boundary,
    head.length + bytes.length + tail.length,
    false,
  );
  req.write(head);
  req.write(bytes);
  req.end(tail);
  return answer;
}

// Dead socket buffers wait for a young-generation GC, which an upload's little heap allocation rarely
// triggers: without the API's paced minor GCs (apps/api/src/http/buffer-garbage.ts) a 512 MiB upload
// raised its peak RSS by 28–36 MB here, with them by 5–15 MB (a 1 GiB upload: 70–80 MB against 30).
describe('ingest memory', () => {
  let service: TestService;
  let agent = '';

  before(async () => {
    service = new TestService({ env: { UPLOAD_MAX_BYTES: String(SIZE) } });
    await service.start();
    agent = await service.token('agent');
  });
  after(() => service.stop());

  it('a 512 MiB upload raises the API peak RSS by less than 20 MB', async () => {
    const pid = service.api?.pid;
    assert.ok(pid !== undefined);
    const warm = randomBytes(8 * MiB);
    assert.equal((await upload(service.baseUrl, agent, warm)).status, 201);
    const bytes = randomBytes(SIZE);
    const start = statusMb(pid, 'VmRSS');
    writeFileSync(`/proc/${pid}/clear_refs`, '5'); // the peak (VmHWM) restarts from the RSS now
    const res = await upload(service.baseUrl, agent, bytes).catch((e: unknown) => {
      throw new Error(`the upload failed; the service printed:\n${service.output()}`, { cause: e });
    });
    assert.equal(res.status, 201, res.body);
    const growth = statusMb(pid, 'VmHWM') - start;
    assert.ok(growth < 20, `peak RSS grew by ${growth.toFixed(1)} MB (from ${start.toFixed(0)} MB)`);
  });
});
