/**
 * What the scanner's analyzers find in a sample (stored as JSON with the scan, shown with the sample).
 * Addresses are hex strings (64-bit values do not fit a JSON number); sizes and offsets are numbers.
 */

/** Broad file type: the value of the YARA external `file_type`. */
export const FILE_TYPES = ['pe', 'elf', 'macho', 'script', 'archive', 'pdf', 'office', 'unknown'] as const;
export type FileType = (typeof FILE_TYPES)[number];

export interface FileTypeInfo {
  type: FileType;
  /**
   * The precise format: `pe32`, `pe32+`, `elf32`, `elf64`, `macho32`, `macho64`, `macho-fat`, `shebang`,
   * `powershell`, `javascript`, `vbscript`, `batch`, `zip`, `rar`, `7z`, `gzip`, `bzip2`, `xz`, `cab`,
   * `pdf`, `ole2`, `ooxml`, `mz` (DOS executable without a PE header), `text`, `unknown`.
   */
  format: string;
  /** Format details: shebang interpreter, OOXML application (`word`, `excel`, `powerpoint`), macros, … */
  details?: Record<string, string | number | boolean>;
}

export interface Anomaly {
  code: string;
  message: string;
}

export interface PeSection {
  name: string;
  virtualAddress: string;
  virtualSize: number;
  rawSize: number;
  rawOffset: number;
  /** Null when the time limit came before a byte of the section was read. */
  entropy: number | null;
  /** Entropy computed on the first 64 MiB only, or cut short by the time limit. */
  entropySampled?: boolean;
  characteristics: string;
  flags: string[];
  writableExecutable: boolean;
}

export interface PeImport {
  dll: string;
  functions: string[];
  /** Functions left out of `functions` past the per-DLL cap. */
  omitted?: number;
}

export interface PeSummary {
  format: 'pe32' | 'pe32+';
  /** Where sections were read: raw file offsets, or virtual addresses (an image mapped in memory). */
  layout: 'file' | 'mapped';
  machine: string;
  machineName: string;
  timestamp: string | null;
  timestampRaw: number;
  characteristics: string;
  characteristicFlags: string[];
  subsystem: number;
  subsystemName: string;
  dllCharacteristics: string;
  entryPoint: string;
  imageBase: string;
  sizeOfImage: number;
  numberOfSections: number;
  sections: PeSection[];
  importCount: number;
  imports: PeImport[];
  /** md5 of the normalised import list as pefile defines it; null without imports. */
  imphash: string | null;
  anomalies: Anomaly[];
  truncated: boolean;
}

export interface ElfSection {
  name: string;
  type: string;
  flags: string;
  address: string;
  offset: number;
  size: number;
}

export interface ElfSegment {
  type: string;
  flags: string;
  offset: number;
  virtualAddress: string;
  fileSize: number;
  memorySize: number;
}

export interface ElfSummary {
  class: 'elf32' | 'elf64';
  endianness: 'little' | 'big';
  osAbi: number;
  type: string;
  machine: string;
  machineName: string;
  entry: string;
  numberOfSections: number;
  sections: ElfSection[];
  numberOfSegments: number;
  segments: ElfSegment[];
  interpreter: string | null;
  anomalies: Anomaly[];
  truncated: boolean;
}

export interface MbrPartition {
  index: number;
  status: string;
  active: boolean;
  type: string;
  typeName: string;
  lbaStart: number;
  sectors: number;
  chsStart: [number, number, number];
  chsEnd: [number, number, number];
}

export interface GptPartition {
  index: number;
  typeGuid: string;
  typeName: string;
  uniqueGuid: string;
  firstLba: number;
  lastLba: number;
  attributes: string;
  name: string;
}

export interface GptHeader {
  signature: string;
  revision: string;
  headerSize: number;
  headerCrc32: string;
  headerCrcValid: boolean;
  currentLba: number;
  backupLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  partitionEntryLba: number;
  partitionEntryCount: number;
  partitionEntrySize: number;
  partitionArrayCrc32: string;
  /** null when the entry array is not (wholly) inside the submitted bytes. */
  partitionArrayCrcValid: boolean | null;
  /** The non-empty entries found in the submitted bytes (at most 128). */
  partitions: GptPartition[];
}

export interface VolumeBootRecord {
  filesystem: 'ntfs' | 'fat32' | 'fat' | 'exfat' | 'unknown';
  oemId: string;
  jump: string;
  jumpValid: boolean;
  bytesPerSector: number;
}

export interface BootRecordSummary {
  sectorSize: number;
  signature: string;
  signatureValid: boolean;
  /** `mbr`, `gpt` (protective MBR followed by a GPT header), `vbr` or `unknown`. */
  scheme: 'mbr' | 'gpt' | 'vbr' | 'unknown';
  partitions: MbrPartition[];
  protectiveMbr: boolean;
  gpt: GptHeader | null;
  vbr: VolumeBootRecord | null;
  anomalies: Anomaly[];
}

export interface EmbeddedPeImage {
  offset: number;
  pe: PeSummary;
}

export interface MemoryRegionSummary {
  size: number;
  protection: string | null;
  executable: boolean;
  writable: boolean;
  writableExecutable: boolean;
  entropy: number;
  entropySampled: boolean;
  /** PE images found in the region (at most 32). */
  peImages: EmbeddedPeImage[];
  truncated: boolean;
}

/** The stored analysis of one sample. */
export interface AnalysisResult {
  version: 1;
  fileType: FileTypeInfo;
  pe?: PeSummary;
  elf?: ElfSummary;
  bootRecord?: BootRecordSummary;
  memoryRegion?: MemoryRegionSummary;
  /** An analyzer that failed unexpectedly, by name; the others' results are still here. */
  errors?: Record<string, string>;
  durationMs: number;
}

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
