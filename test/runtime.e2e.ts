import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { projectRoot } from '#config';

const run = promisify(execFile);

/**
 * Whether String.prototype has fast properties once `script` (an ES module) has run, asked of V8 itself
 * (`%HasFastProperties`, only with --allow-natives-syntax, so in a child process of its own).
 */
async function fastAfter(script: string): Promise<boolean> {
  const { stdout } = await run(
    process.execPath,
    [
      '--allow-natives-syntax',
      '--input-type=module',
      '-e',
      `${script}\nconsole.log(%HasFastProperties(String.prototype) ? 'fast' : 'slow');`,
    ],
    { cwd: projectRoot() },
  );
  return stdout.trim().split('\n').at(-1) === 'fast';
}

const dist = (path: string): string => JSON.stringify(pathToFileURL(join(projectRoot(), 'dist', path)).href);

describe('runtime', () => {
  it('ioredis leaves String.prototype slow (if this fails, restoreFastStringPrototype may go)', async () => {
    assert.equal(await fastAfter(''), true);
    assert.equal(
      await fastAfter(
        "import { createRequire } from 'node:module'; createRequire(process.cwd() + '/')('ioredis');",
      ),
      false,
    );
  });

  it('the API and the scanner run with a fast String.prototype', async () => {
    for (const entry of ['apps/api/src/app.module.js', 'apps/scanner/src/scanner.module.js']) {
      assert.equal(await fastAfter(`await import(${dist(entry)});`), true, entry);
    }
  });
});
