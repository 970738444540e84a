import type { AnalysisResult, FileTypeInfo, SampleKind } from '#contracts';
import { analyzeBootRecord } from './boot-record.js';
import { type ByteSource, Deadline } from './bytes.js';
import { analyzeElf } from './elf.js';
import { detectFileType } from './file-type.js';
import { analyzeMemoryRegion } from './memory-region.js';
import { analyzePe } from './pe.js';

/** What the analyzers use from a submission's metadata (all optional: it may be missing or old). */
export interface AnalysisMetadata {
  protection?: unknown;
  sectorSize?: unknown;
  lba?: unknown;
}

export interface AnalyzeOptions {
  /** Time budget of the whole analysis; analyzers still running then stop and say they were truncated. */
  timeoutMs?: number;
  /** The file type when the caller detected it already (see {@link detectFileType}). */
  fileType?: FileTypeInfo;
}

/**
 * Runs the analyzers that fit the sample's kind and detected type. Never throws: an analyzer that fails
 * anyway (a bug, not bad input) is named in `errors` and the others' results are kept.
 */
export async function analyze(
  kind: SampleKind,
  source: ByteSource,
  metadata: AnalysisMetadata = {},
  options: AnalyzeOptions = {},
): Promise<AnalysisResult> {
  const started = performance.now();
  const deadline = new Deadline(options.timeoutMs ?? 10_000);
  const errors: Record<string, string> = {};
  const guard = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      errors[name] = e instanceof Error ? e.message : String(e);
      return undefined;
    }
  };
  const fileType = options.fileType ??
    (await guard('fileType', () => detectFileType(source))) ?? {
      type: 'unknown' as const,
      format: 'unknown',
    };
  const result: AnalysisResult = { version: 1, fileType, durationMs: 0 };
  if (kind === 'boot-record') {
    const sectorSize = typeof metadata.sectorSize === 'number' ? metadata.sectorSize : undefined;
    const lba = typeof metadata.lba === 'number' ? metadata.lba : undefined;
    result.bootRecord = await guard('bootRecord', () =>
      analyzeBootRecord(source, {
        ...(sectorSize === undefined ? {} : { sectorSize }),
        ...(lba === undefined ? {} : { lba }),
      }),
    );
  } else if (kind === 'memory-region') {
    const protection = typeof metadata.protection === 'string' ? metadata.protection : undefined;
    result.memoryRegion = await guard('memoryRegion', () =>
      analyzeMemoryRegion(source, { deadline, ...(protection === undefined ? {} : { protection }) }),
    );
  } else if (fileType.type === 'pe') {
    result.pe = (await guard('pe', () => analyzePe(source, { deadline }))) ?? undefined;
  } else if (fileType.type === 'elf') {
    result.elf = (await guard('elf', () => analyzeElf(source, deadline))) ?? undefined;
  }
  for (const key of ['bootRecord', 'memoryRegion', 'pe', 'elf'] as const) {
    if (result[key] === undefined) delete result[key];
  }
  if (Object.keys(errors).length > 0) result.errors = errors;
  result.durationMs = Math.round((performance.now() - started) * 10) / 10;
  return result;
}

export { bufferSource, openFileSource, subSource, type ByteSource } from './bytes.js';
export { detectFileType } from './file-type.js';
