/** Value of an external variable: YARA integer (whole numbers), float, boolean or string. */
export type ExternalValue = string | number | boolean;

/** One YARA source to compile. */
export interface RuleSource {
  /** YARA rule text. */
  source: string;
  /** Rule namespace; `default` when omitted. */
  namespace?: string;
  /** Label used in diagnostics (for example the ruleset file name); nothing is read from disk. */
  fileName?: string;
}

/** Options of {@link compileRules}. */
export interface CompileOptions {
  /** External variables and their default values; rules may only use externals declared here. */
  externals?: Record<string, ExternalValue>;
  /**
   * Let `include "path"` read files from the server's file system. Off by default because rule text comes
   * from users; with it off an include is reported as an error and its directive is left out.
   */
  allowIncludes?: boolean;
}

/** A compiler error or warning, with its line in the original source. */
export interface CompileDiagnostic {
  severity: 'error' | 'warning';
  fileName?: string;
  namespace: string;
  /** 1-based line in the source as given (not in any rewritten text). */
  line: number;
  /** libyara reports no columns; kept for callers that merge diagnostics from other tools. */
  column?: number;
  /** The rule the diagnostic belongs to, when it belongs to one. */
  rule?: string;
  message: string;
}

/** Options of a single scan. */
export interface ScanOptions {
  /**
   * Scan time limit. libyara counts whole seconds, so this is rounded up to the next second (1 ms -> 1 s)
   * and a scan may overrun it slightly while libyara is between clock checks. Omit or 0 for no limit.
   */
  timeoutMs?: number;
  /** Values for externals declared at compile time, for this scan only. */
  externals?: Record<string, ExternalValue>;
  /** libyara fast mode: stop looking for a string after its first match. */
  fastMode?: boolean;
  /** Match records kept per string (default 1,000); matching itself is not affected. */
  maxMatchesPerString?: number;
  /**
   * Match records kept per scan, every rule's strings together (default 10,000): one rule of thousands of
   * strings matching everywhere would otherwise keep millions. Rules are reported beyond it, with the
   * strings recorded until then.
   */
  maxMatchesPerScan?: number;
}

/** Where a string of a matching rule matched. */
export interface StringMatch {
  /** For example `$a`. */
  identifier: string;
  /** Byte offset in the scanned data. */
  offset: number;
  length: number;
}

/** A rule that matched. */
export interface RuleMatch {
  rule: string;
  namespace: string;
  tags: string[];
  /** Rule meta; when a key repeats, its first value. */
  meta: Record<string, ExternalValue>;
  /**
   * Matches of the rule's non-private strings, at most `maxMatchesPerString` per string and
   * `maxMatchesPerScan` in the whole scan.
   */
  strings: StringMatch[];
}

/** Outcome of a scan. */
export interface ScanResult {
  matches: RuleMatch[];
  /** The time limit hit; `matches` holds what libyara reported before it stopped (usually nothing). */
  timedOut: boolean;
  /** Time spent scanning on the thread pool, not counting time queued. */
  durationMs: number;
}
