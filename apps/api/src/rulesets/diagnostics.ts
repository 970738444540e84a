import type { RuleDiagnosticView } from '#contracts';
import type { CompileDiagnostic } from '#yara';

/**
 * libyara reports lines, not columns. When its message quotes the offending token (`undefined identifier
 * "$b"`, `syntax error, unexpected identifier "foo"`) and that token occurs once on the line, its position
 * is the column; otherwise the column is unknown (null) rather than guessed.
 */
export function columnOf(source: string, line: number, message: string): number | null {
  const text = source.split('\n')[line - 1];
  if (text === undefined) return null;
  const quoted = [...message.matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? '').filter((t) => t !== '');
  for (const token of quoted) {
    const at = text.indexOf(token);
    if (at >= 0 && text.indexOf(token, at + 1) < 0) return at + 1;
  }
  return null;
}

/** A compiler diagnostic as the API shows it: rule, line, column (when known) and message. */
export function toDiagnosticView(source: string, d: CompileDiagnostic): RuleDiagnosticView {
  return {
    severity: d.severity,
    rule: d.rule ?? null,
    line: d.line,
    column: d.column ?? columnOf(source, d.line, d.message),
    message: d.message,
  };
}
