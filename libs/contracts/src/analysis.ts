import { z } from 'zod';
import { Count, IsoTime, Md5Hex } from './views.js';

/**
 * What the scanner's analyzers find in a sample (stored as JSON with the scan, shown with the sample).
 * Addresses are hex strings (64-bit values do not fit a JSON number); sizes and offsets are numbers.
 */

/** Broad file type: the value of the YARA external `file_type`. */
export const FILE_TYPES = ['pe', 'elf', 'macho', 'script', 'archive', 'pdf', 'office', 'unknown'] as const;
export type FileType = (typeof FILE_TYPES)[number];

/** A value written as `0x` and lowercase hexadecimal digits. */
const Hex = z.string().regex(/^0x[0-9a-f]+$/);

export const FileTypeInfo = z.strictObject({
  type: z.enum(FILE_TYPES),
  /**
   * The precise format: `pe32`, `pe32+`, `elf32`, `elf64`, `macho32`, `macho64`, `macho-fat`, `shebang`,
   * `powershell`, `javascript`, `vbscript`, `batch`, `zip`, `rar`, `7z`, `gzip`, `bzip2`, `xz`, `cab`,
   * `pdf`, `ole2`, `ooxml`, `mz` (DOS executable without a PE header), `text`, `unknown`.
   */
  format: z.string(),
  /** Format details: shebang interpreter, OOXML application (`word`, `excel`, `powerpoint`), macros, … */
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});
export type FileTypeInfo = z.infer<typeof FileTypeInfo>;

export const Anomaly = z.strictObject({ code: z.string(), message: z.string() });
export type Anomaly = z.infer<typeof Anomaly>;

export const PeSection = z.strictObject({
  name: z.string(),
  virtualAddress: Hex,
  virtualSize: Count,
  rawSize: Count,
  rawOffset: Count,
  /** Null when the time limit came before a byte of the section was read. */
  entropy: z.number().nullable(),
  /** Entropy computed on the first 64 MiB only, or cut short by the time limit. */
  entropySampled: z.boolean().optional(),
  characteristics: Hex,
  flags: z.array(z.string()),
  writableExecutable: z.boolean(),
});
export type PeSection = z.infer<typeof PeSection>;

export const PeImport = z.strictObject({
  dll: z.string(),
  functions: z.array(z.string()),
  /** Functions left out of `functions` past the per-DLL cap. */
  omitted: Count.optional(),
});
export type PeImport = z.infer<typeof PeImport>;

export const PeSummary = z.strictObject({
  format: z.enum(['pe32', 'pe32+']),
  /** Where sections were read: raw file offsets, or virtual addresses (an image mapped in memory). */
  layout: z.enum(['file', 'mapped']),
  machine: Hex,
  machineName: z.string(),
  timestamp: IsoTime.nullable(),
  timestampRaw: Count,
  characteristics: Hex,
  characteristicFlags: z.array(z.string()),
  subsystem: Count,
  subsystemName: z.string(),
  dllCharacteristics: Hex,
  entryPoint: Hex,
  imageBase: Hex,
  sizeOfImage: Count,
  numberOfSections: Count,
  sections: z.array(PeSection),
  importCount: Count,
  imports: z.array(PeImport),
  /** md5 of the normalised import list as pefile defines it; null without imports. */
  imphash: Md5Hex.nullable(),
  anomalies: z.array(Anomaly),
  truncated: z.boolean(),
});
export type PeSummary = z.infer<typeof PeSummary>;

export const ElfSection = z.strictObject({
  name: z.string(),
  type: z.string(),
  flags: z.string(),
  address: Hex,
  offset: Count,
  size: Count,
});
export type ElfSection = z.infer<typeof ElfSection>;

export const ElfSegment = z.strictObject({
  type: z.string(),
  flags: z.string(),
  offset: Count,
  virtualAddress: Hex,
  fileSize: Count,
  memorySize: Count,
});
export type ElfSegment = z.infer<typeof ElfSegment>;

export const ElfSummary = z.strictObject({
  class: z.enum(['elf32', 'elf64']),
  endianness: z.enum(['little', 'big']),
  osAbi: Count,
  type: z.string(),
  machine: Hex,
  machineName: z.string(),
  entry: Hex,
  numberOfSections: Count,
  sections: z.array(ElfSection),
  numberOfSegments: Count,
  segments: z.array(ElfSegment),
  interpreter: z.string().nullable(),
  anomalies: z.array(Anomaly),
  truncated: z.boolean(),
});
export type ElfSummary = z.infer<typeof ElfSummary>;

export const MbrPartition = z.strictObject({
  index: Count,
  status: Hex,
  active: z.boolean(),
  type: Hex,
  typeName: z.string(),
  lbaStart: Count,
  sectors: Count,
  chsStart: z.tuple([Count, Count, Count]),
  chsEnd: z.tuple([Count, Count, Count]),
});
export type MbrPartition = z.infer<typeof MbrPartition>;

export const GptPartition = z.strictObject({
  index: Count,
  typeGuid: z.string(),
  typeName: z.string(),
  uniqueGuid: z.string(),
  firstLba: Count,
  lastLba: Count,
  attributes: Hex,
  name: z.string(),
});
export type GptPartition = z.infer<typeof GptPartition>;

export const GptHeader = z.strictObject({
  signature: z.string(),
  revision: z.string(),
  headerSize: Count,
  headerCrc32: Hex,
  headerCrcValid: z.boolean(),
  currentLba: Count,
  backupLba: Count,
  firstUsableLba: Count,
  lastUsableLba: Count,
  diskGuid: z.string(),
  partitionEntryLba: Count,
  partitionEntryCount: Count,
  partitionEntrySize: Count,
  partitionArrayCrc32: Hex,
  /** null when the entry array is not (wholly) inside the submitted bytes. */
  partitionArrayCrcValid: z.boolean().nullable(),
  /** The non-empty entries found in the submitted bytes (at most 128). */
  partitions: z.array(GptPartition),
});
export type GptHeader = z.infer<typeof GptHeader>;

export const VolumeBootRecord = z.strictObject({
  filesystem: z.enum(['ntfs', 'fat32', 'fat', 'exfat', 'unknown']),
  oemId: z.string(),
  jump: z.string(),
  jumpValid: z.boolean(),
  bytesPerSector: Count,
});
export type VolumeBootRecord = z.infer<typeof VolumeBootRecord>;

export const BootRecordSummary = z.strictObject({
  sectorSize: Count,
  /** Empty when the bytes end before offset 512. */
  signature: z.union([Hex, z.literal('')]),
  signatureValid: z.boolean(),
  /** `mbr`, `gpt` (protective MBR followed by a GPT header), `vbr` or `unknown`. */
  scheme: z.enum(['mbr', 'gpt', 'vbr', 'unknown']),
  partitions: z.array(MbrPartition),
  protectiveMbr: z.boolean(),
  gpt: GptHeader.nullable(),
  vbr: VolumeBootRecord.nullable(),
  anomalies: z.array(Anomaly),
});
export type BootRecordSummary = z.infer<typeof BootRecordSummary>;

export const EmbeddedPeImage = z.strictObject({ offset: Count, pe: PeSummary });
export type EmbeddedPeImage = z.infer<typeof EmbeddedPeImage>;

export const MemoryRegionSummary = z.strictObject({
  size: Count,
  protection: z.string().nullable(),
  executable: z.boolean(),
  writable: z.boolean(),
  writableExecutable: z.boolean(),
  entropy: z.number(),
  entropySampled: z.boolean(),
  /** PE images found in the region (at most 32). */
  peImages: z.array(EmbeddedPeImage),
  truncated: z.boolean(),
});
export type MemoryRegionSummary = z.infer<typeof MemoryRegionSummary>;

/** The stored analysis of one sample. */
export const AnalysisResult = z.strictObject({
  version: z.literal(1),
  fileType: FileTypeInfo,
  pe: PeSummary.optional(),
  elf: ElfSummary.optional(),
  bootRecord: BootRecordSummary.optional(),
  memoryRegion: MemoryRegionSummary.optional(),
  /** An analyzer that failed unexpectedly, by name; the others' results are still here. */
  errors: z.record(z.string(), z.string()).optional(),
  /** Milliseconds, to a tenth. */
  durationMs: z.number().nonnegative(),
});
export type AnalysisResult = z.infer<typeof AnalysisResult>;

/**
 * The YARA external variables of every scan, with the defaults they are declared with at compile time.
 * Every compile of rules that Specimen scans with (scanner and API alike) must declare exactly these, or
 * the scan's values for them are refused. `kind` is the sample kind, `file_type` a {@link FileType}, `size`
 * the sample's size in bytes.
 */
export const SCAN_EXTERNALS: Readonly<{ kind: string; file_type: string; size: number }> = Object.freeze({
  kind: '',
  file_type: '',
  size: 0,
});

/**
 * The compile options of every ruleset and retrohunt, in the API (validation, retrohunt hand-over) and the
 * scanner alike: compiled rules pass between them only when both compile with these.
 */
export const SCAN_COMPILE_OPTIONS: Readonly<{ externals: typeof SCAN_EXTERNALS }> = Object.freeze({
  externals: SCAN_EXTERNALS,
});

/** The YARA namespace of a retrohunt's rules, in the API's compile and the scanner's. */
export const RETROHUNT_NAMESPACE = 'retrohunt';
