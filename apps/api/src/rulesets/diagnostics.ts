import { type RuleDiagnosticView, SCAN_COMPILE_OPTIONS, SpecimenError } from '#contracts';
import {
  type CompileDiagnostic,
  type CompileResult,
  YaraError,
  type YaraRules,
  compileRulesAsync,
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
 * no rule compiles, or when the compiler cannot pin an error on any rule (the text is not YARA at all).
 * libyara's work runs on the thread pool: a 5,000-rule upload must not stall every other request.
 */
export async function compileSubmitted(
  source: string,
  namespace: string,
  /** `ruleset` or `retrohunt`, for the message. */
  what: string,
  onDiagnostics: (errorCount: number) => void = () => undefined,
): Promise<SubmittedRules> {
  const { rules, ...submitted } = await compileSubmittedRules(source, namespace, what, onDiagnostics);
  rules.destroy();
  return submitted;
}

/** {@link compileSubmitted} that hands back the compiled rules too: the caller destroys them. */
export async function compileSubmittedRules(
  source: string,
  namespace: string,
  what: string,
  onDiagnostics: (errorCount: number) => void = () => undefined,
): Promise<SubmittedRules & { rules: YaraRules }> {
  let compiled: CompileResult;
  try {
    compiled = await compileRulesAsync(
      [{ source, namespace, fileName: `${namespace}.yar` }],
      SCAN_COMPILE_OPTIONS,
    );
  } catch (e) {
    if (e instanceof YaraError) {
      throw new SpecimenError('VALIDATION_FAILED', e.message, {
        issues: [{ field: 'body.source', message: e.message }],
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
