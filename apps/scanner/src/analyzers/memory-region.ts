import type { EmbeddedPeImage, MemoryRegionSummary } from '#contracts';
import { ByteHistogram, type ByteSource, Deadline, has, subSource, u32, MIN_LFANEW } from './bytes.js';
import { analyzePe } from './pe.js';

const MAX_IMAGES = 32;
/** `PE\0\0` read as a little-endian 32-bit number. */
const PE_SIGNATURE = 0x00004550;
const CHUNK = 1024 * 1024;
/** Bytes looked at for images and entropy; a larger region is reported as truncated. */
const MAX_SCAN = 512 * 1024 * 1024;

export interface MemoryRegionOptions {
  /** The submission's protection, e.g. `RWX`, `R-X`; C (copy-on-write) counts as writable. */
  protection?: string;
  deadline?: Deadline;
}

/**
 * Looks through a memory region for PE images (an MZ header whose e_lfanew leads to `PE\0\0`), each
 * summarised as mapped by the loader, computes the region's entropy and flags writable-executable
 * protection. Never throws on malformed input.
 */
export async function analyzeMemoryRegion(
  source: ByteSource,
  options: MemoryRegionOptions = {},
): Promise<MemoryRegionSummary> {
  const deadline = options.deadline ?? new Deadline(10_000);
  const protection = options.protection?.toUpperCase() ?? null;
  const executable = protection?.includes('X') ?? false;
  const writable = (protection?.includes('W') ?? false) || (protection?.includes('C') ?? false);
  const histogram = new ByteHistogram();
  const candidates: number[] = [];
  const limit = Math.min(source.size, MAX_SCAN);
  let truncated = source.size > MAX_SCAN;
  // Chunks overlap by 0x40 bytes minus one so an MZ header across a boundary is still seen whole.
  for (let position = 0; position < limit; position += CHUNK) {
    if (deadline.expired) {
      truncated = true;
      break;
    }
    const chunk = await source.read(position, Math.min(CHUNK + 0x40, limit - position));
    histogram.add(chunk.subarray(0, Math.min(CHUNK, chunk.length)));
    let i = chunk.indexOf('MZ');
    while (i >= 0 && i < CHUNK && candidates.length < MAX_IMAGES * 8) {
      if (has(chunk, i, 0x40)) {
        const lfanew = u32(chunk, i + 0x3c);
        // The PE signature checked here, before the candidate counts: headers without one (decoys filling a
        // region) used up the candidates before a real image further on was reached.
        if (lfanew >= MIN_LFANEW && lfanew < 0x10000 && position + i + lfanew + 4 <= source.size) {
          const at = i + lfanew;
          const signature =
            at + 4 <= chunk.length ? chunk.subarray(at, at + 4) : await source.read(position + at, 4);
          if (signature.length === 4 && u32(signature, 0) === PE_SIGNATURE) candidates.push(position + i);
        }
      }
      i = chunk.indexOf('MZ', i + 1);
    }
  }
  const peImages: EmbeddedPeImage[] = [];
  for (const offset of candidates) {
    if (peImages.length >= MAX_IMAGES || deadline.expired) break;
    const image = subSource(source, offset);
    // analyzePe checks for the PE signature where e_lfanew points and returns null without one.
    const mapped = await analyzePe(image, { layout: 'mapped', deadline });
    if (mapped === null) continue;
    // An image written as a file (an unpacked payload, not yet loaded) reads right only in its file
    // layout. The wrong reading finds garbage: many anomalies, and often many "imports" (it once won by
    // counting them). Keep the reading with fewer anomalies; on a tie more imports; then the mapped one.
    const file = mapped.layout === 'mapped' ? await analyzePe(image, { layout: 'file', deadline }) : null;
    const better = (a: typeof mapped, b: typeof mapped) =>
      a.anomalies.length !== b.anomalies.length
        ? a.anomalies.length < b.anomalies.length
        : a.importCount > b.importCount;
    const pe = file !== null && better(file, mapped) ? file : mapped;
    peImages.push({ offset, pe });
  }
  return {
    size: source.size,
    protection,
    executable,
    writable,
    writableExecutable: executable && writable,
    entropy: histogram.entropy(),
    entropySampled: histogram.total < source.size,
    peImages,
    truncated,
  };
}
