import { type RuleDiagnosticView, SCAN_COMPILE_OPTIONS, SpecimenError } from '#contracts';
import {
  type CompileDiagnostic,
  type CompileLimits,
  type CompileResult,
  YaraError,
  type YaraRules,
  compileRulesIsolated,
} from '#yara';

/** How far above its reported line an error's token is looked for (libyara reports the lookahead's line). */
const LOOKBACK_LINES = 3;

/**
 * Where a diagnostic points. libyara reports lines, not columns, and reports the line of the token after
 * the offending one when the parser needed it to decide (`condition: $b` then `}` on the next line blames
 * the `}` line). When the message quotes the offending token (`undefined string "$b"`) and that token
 * occurs once on the reported line, or else on one of the few lines above it, that is the position; else
 * the reported line stands and the column is unknown (null) rather than guessed.
 */
export function locate(
  lines: readonly string[],
  line: number,
  message: string,
): { line: number; column: number | null } {
  const quoted = [...message.matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? '').filter((t) => t !== '');
  for (let at = line; at >= Math.max(1, line - LOOKBACK_LINES); at--) {
    const text = lines[at - 1];
    if (text === undefined) continue;
    for (const token of quoted) {
      const index = text.indexOf(token);
      if (index >= 0 && text.indexOf(token, index + 1) < 0) return { line: at, column: index + 1 };
    }
  }
  return { line, column: null };
}

/**
 * A compiler diagnostic as the API shows it: rule, line, column (when known) and message. `lines` is the
 * source split at its newlines, once for all its diagnostics: a split per diagnostic held the event loop
 * for seconds (a 2 MB source whose rule draws 1,000 warnings: 1,000 splits of the whole text).
 */
export function toDiagnosticView(lines: readonly string[], d: CompileDiagnostic): RuleDiagnosticView {
  const where =
    d.column === undefined ? locate(lines, d.line, d.message) : { line: d.line, column: d.column };
  return {
    severity: d.severity,
    rule: d.rule ?? null,
    line: where.line,
    column: where.column,
    message: d.message,
  };
}

/** What a compile stopped at a limit adds to its message: which setting, and what usually causes it. */
const LIMIT_HINTS: Partial<Record<string, string>> = {
  YARA_ERROR_COMPILE_TIMEOUT:
    ' (RULES_COMPILE_TIMEOUT_MS); strings with xor, nocase or wide, and open-ended regular expressions, multiply the compile work: split the rules or narrow those strings',
  YARA_ERROR_COMPILE_MEMORY:
    ' (RULES_COMPILE_MAX_MB); strings with xor, nocase or wide multiply the compiled atoms: split the rules or narrow those strings',
};

/** What {@link compileSubmitted} found: the counts and diagnostics. */
export interface SubmittedRules {
  ruleCount: number;
  quarantined: string[];
  diagnostics: RuleDiagnosticView[];
  errorCount: number;
}

/**
 * Compiles rule text sent by a person (a ruleset or a retrohunt) as the scanner will: with the scan
 * externals, or a rule using `kind` would not compile here. 400 VALIDATION_FAILED naming every error when
 * no rule compiles, or when the compiler cannot pin an error on any rule (the text is not YARA at all),
 * and when the compile passes `limits` (RULES_COMPILE_TIMEOUT_MS, RULES_COMPILE_MAX_MB). The compile runs
 * in a process of its own: a 5,000-rule upload must not stall every other request, and rules that would
 * compile for minutes are stopped, which libyara cannot do within a process.
 */
export async function compileSubmitted(
  source: string,
  namespace: string,
  /** `ruleset` or `retrohunt`, for the message. */
  what: string,
  limits: CompileLimits,
  onDiagnostics: (errorCount: number) => void = () => undefined,
): Promise<SubmittedRules> {
  const { rules, ...submitted } = await compileSubmittedRules(source, namespace, what, limits, onDiagnostics);
  rules.destroy();
  return submitted;
}

/** {@link compileSubmitted} that hands back the compiled rules too: the caller destroys them. */
export async function compileSubmittedRules(
  source: string,
  namespace: string,
  what: string,
  limits: CompileLimits,
  onDiagnostics: (errorCount: number) => void = () => undefined,
): Promise<SubmittedRules & { rules: YaraRules }> {
  let compiled: CompileResult;
  try {
    compiled = await compileRulesIsolated(
      [{ source, namespace, fileName: `${namespace}.yar` }],
      SCAN_COMPILE_OPTIONS,
      limits,
    );
  } catch (e) {
    // A compiler process that could not start or died unasked says nothing about the rules: a 500.
    if (e instanceof YaraError && e.code !== 'YARA_ERROR_COMPILER_FAILED') {
      const message = e.message + (LIMIT_HINTS[e.code] ?? '');
      throw new SpecimenError('VALIDATION_FAILED', message, {
        issues: [{ field: 'body.source', message }],
        diagnostics: [],
      });
    }
    throw e;
  }
  const lines = compiled.diagnostics.length === 0 ? [] : source.split('\n');
  const diagnostics = compiled.diagnostics.map((d) => toDiagnosticView(lines, d));
  const errorCount = compiled.diagnostics.filter((d) => d.severity === 'error').length;
  onDiagnostics(errorCount);
  if (compiled.rules === null) {
    throw new SpecimenError('VALIDATION_FAILED', `no rule of the ${what} compiles`, {
      issues: [{ field: 'body.source', message: 'no rule compiles' }],
      diagnostics,
    });
  }
  return {
    rules: compiled.rules,
    ruleCount: compiled.ruleCount,
    quarantined: compiled.quarantined,
    diagnostics,
    errorCount,
  };
}
