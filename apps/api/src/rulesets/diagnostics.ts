import type { RuleDiagnosticView } from '#contracts';
import type { CompileDiagnostic } from '#yara';

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
  source: string,
  line: number,
  message: string,
): { line: number; column: number | null } {
  const lines = source.split('\n');
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

/** A compiler diagnostic as the API shows it: rule, line, column (when known) and message. */
export function toDiagnosticView(source: string, d: CompileDiagnostic): RuleDiagnosticView {
  const where =
    d.column === undefined ? locate(source, d.line, d.message) : { line: d.line, column: d.column };
  return {
    severity: d.severity,
    rule: d.rule ?? null,
    line: where.line,
    column: where.column,
    message: d.message,
  };
}
