import { join } from 'node:path';

import { YARA_LIB_DIR, native } from './native-addon.js';

export { compileRules, compileRulesAsync, compileTag, loadRules, type CompileResult } from './compile.js';
export { type CompileLimits, compileRulesIsolated } from './compile-isolated.js';
export { ruleDefinitions } from './rule-splitter.js';
export {
  DEFAULT_MAX_MATCHES_PER_SCAN,
  DEFAULT_MAX_MATCHES_PER_STRING,
  YaraError,
  YaraRules,
} from './yara-rules.js';
export type {
  CompileDiagnostic,
  CompileOptions,
  ExternalValue,
  RuleMatch,
  RuleSource,
  ScanOptions,
  ScanResult,
  StringMatch,
} from './yara.types.js';

/** Absolute path of the ruleset shipped with the project (libs/yara/rules/default.yar). */
export const DEFAULT_RULESET_PATH = join(YARA_LIB_DIR, 'rules', 'default.yar');

/** Version of the libyara the addon was built against, e.g. `4.2.3`. */
export function yaraVersion(): string {
  return native().version();
}

/** Scans that may run at once on one rules object (libyara's YR_MAX_THREADS); more wait in a queue. */
export function maxConcurrentScans(): number {
  return native().maxConcurrentScans;
}
