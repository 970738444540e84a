// A Vite build plugin: each text file of the console's build gets a brotli (`.br`) and a gzip (`.gz`) copy
// beside it, made once at build time at the best compression levels, which the API then sends to browsers
// that accept them (apps/api/src/console/console.static.ts). Compressing per response instead would cost the
// API CPU on every first visit, and a compression middleware would also sit in front of the API's own
// streams (downloads hand their chunk buffers back only when a write completes).
import { readFile, rm, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import type { Plugin } from 'vite';

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/** File types worth compressing (images and fonts of these builds are compressed formats already). */
const COMPRESSIBLE = new Set(['.js', '.css', '.html', '.svg', '.json', '.map', '.txt']);
/** Below this a compressed copy saves less than its own headers cost. */
const MIN_BYTES = 1024;

/**
 * Writes `<file>.br` and `<file>.gz` for `file` when each is smaller than the file (and removes a copy it does
 * not write); returns what it wrote.
 */
export async function precompressFile(file: string): Promise<string[]> {
  const bytes = await readFile(file);
  // A copy left by an earlier build into the same folder would be sent in place of this file.
  const stale = () => Promise.all(['.br', '.gz'].map((suffix) => rm(`${file}${suffix}`, { force: true })));
  if (bytes.length < MIN_BYTES) {
    await stale();
    return [];
  }
  const [br, gz] = await Promise.all([
    brotli(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      },
    }),
    gzipAsync(bytes, { level: constants.Z_BEST_COMPRESSION }),
  ]);
  const written: string[] = [];
  for (const [suffix, copy] of [
    ['.br', br],
    ['.gz', gz],
  ] as const) {
    if (copy.length >= bytes.length) {
      await rm(`${file}${suffix}`, { force: true });
      continue;
    }
    await writeFile(`${file}${suffix}`, copy);
    written.push(`${file}${suffix}`);
  }
  return written;
}

export function precompress(): Plugin {
  return {
    name: 'specimen-precompress',
    apply: 'build',
    async writeBundle(options, bundle) {
      const dir = options.dir;
      if (dir === undefined) return;
      const files = Object.keys(bundle).filter((name) => COMPRESSIBLE.has(extname(name)));
      await Promise.all(files.map((name) => precompressFile(join(dir, name))));
    },
  };
}
