import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { ScanResult } from './yara.types.js';

/** Shape of specimen_yara.node (see libs/yara/native). */
export interface NativeScanOptions {
  timeoutSeconds?: number;
  fastMode?: boolean;
  maxMatchesPerString?: number;
  maxMatchesPerScan?: number;
  externals?: Record<string, string | number | boolean>;
}

export interface NativeRules {
  readonly ruleCount: number;
  readonly inFlight: number;
  scanBuffer(buffer: Uint8Array, options: NativeScanOptions): Promise<ScanResult>;
  scanFile(path: string, options: NativeScanOptions): Promise<ScanResult>;
  save(path: string): void;
  destroy(): void;
}

export interface NativeDiagnostic {
  severity: 'error' | 'warning';
  sourceIndex: number;
  fileName: string | null;
  line: number;
  rule: string | null;
  message: string;
}

export interface NativeCompileResult {
  diagnostics: NativeDiagnostic[];
  errorCount: number;
  rules: NativeRules | null;
}

export interface NativeAddon {
  version(): string;
  compile(
    sources: Array<{ source: string; namespace: string }>,
    externals: Record<string, string | number | boolean>,
    options: { build: boolean; allowIncludes: boolean },
  ): NativeCompileResult;
  /** compile() with libyara's work on the libuv thread pool. */
  compileAsync(
    sources: Array<{ source: string; namespace: string }>,
    externals: Record<string, string | number | boolean>,
    options: { build: boolean; allowIncludes: boolean },
  ): Promise<NativeCompileResult>;
  loadRules(path: string): NativeRules;
  maxConcurrentScans: number;
}

/** The checkout (or install) root: the first ancestor holding libs/yara/binding.gyp. */
function findRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'libs', 'yara', 'binding.gyp'))) return dir;
    if (dirname(dir) === dir) {
      throw new Error(`libs/yara: no libs/yara/binding.gyp above ${start}`);
    }
  }
}

export const YARA_LIB_DIR = resolve(findRoot(), 'libs', 'yara');

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (addon === undefined) {
    const path = join(YARA_LIB_DIR, 'build', 'Release', 'specimen_yara.node');
    if (!existsSync(path)) {
      throw new Error(`libs/yara: ${path} is missing; build it with \`npm run build:native\``);
    }
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  }
  return addon;
}
