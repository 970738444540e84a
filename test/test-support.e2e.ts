import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { projectRoot } from '#config';
import { Redis } from 'ioredis';
import { TestService, dropDatabase, pollUntil } from '#test-support';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('test support', () => {
  it('stops the services it started when the test process is killed', async () => {
    const support = pathToFileURL(join(projectRoot(), 'dist', 'test', 'support', 'index.js')).href;
    const script = [
      `import { TestService } from ${JSON.stringify(support)};`,
      'const service = new TestService({ scanner: false });',
      'await service.start();',
      'console.log(JSON.stringify({ api: service.api.pid, databaseUrl: service.databaseUrl }));',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', () => reject(new Error('the script ended before its service started')));
    });
    lines.close();
    const started = JSON.parse(first) as { api: number; databaseUrl: string };
    try {
      assert.ok(alive(started.api), 'the API runs');
      child.kill('SIGTERM');
      assert.equal(await exited, 143);
      await pollUntil(() => Promise.resolve(alive(started.api) ? undefined : true), {
        timeoutMs: 15_000,
        what: 'the API of a killed test process to stop',
      });
    } finally {
      if (alive(started.api)) process.kill(started.api, 'SIGKILL');
      await dropDatabase(started.databaseUrl);
    }
  });

  it('leaves no Redis keys under its prefix once stopped', async () => {
    const service = await new TestService().start();
    const redis = new Redis('redis://127.0.0.1:6379');
    try {
      const keys = () => redis.keys(`${service.queuePrefix}:*`);
      // The scanner's job schedulers are written at its start; wait for them so there is something to remove.
      await pollUntil(async () => ((await keys()).length > 0 ? true : undefined), {
        timeoutMs: 15_000,
        what: "the scanner's queue keys",
      });
      await service.stop();
      assert.deepEqual(await keys(), []);
    } finally {
      await service.stop();
      redis.disconnect();
    }
  });
});
