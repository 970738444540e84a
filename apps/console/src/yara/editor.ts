import { HighlightStyle } from '@codemirror/language';
import type { Diagnostic } from '@codemirror/lint';
import type { Text } from '@codemirror/state';
import { tags as t } from '@lezer/highlight';
import type { RuleDiagnosticView } from '#contracts';

/** A compiler diagnostic placed on its line (and column when libyara gave one) of the document. */
export function toEditorDiagnostic(doc: Text, d: RuleDiagnosticView): Diagnostic {
  const lineNo = Math.min(Math.max(1, d.line), doc.lines);
  const line = doc.line(lineNo);
  const from = d.column === null ? line.from : Math.min(line.to, line.from + Math.max(0, d.column - 1));
  // The whole line when there is no column, or when the column points at its end.
  const start = from >= line.to ? line.from : from;
  return {
    from: start,
    to: line.to,
    severity: d.severity,
    message: `${d.rule === null ? '' : `${d.rule}: `}${d.message}`,
    source: 'yara',
  };
}

const common = [
  { tag: t.comment, fontStyle: 'italic' },
  { tag: t.invalid, textDecoration: 'underline wavy' },
];

export const lightHighlight = HighlightStyle.define([
  ...common,
  { tag: t.keyword, color: '#8250df', fontWeight: '600' },
  { tag: t.definition(t.variableName), color: '#0550ae', fontWeight: '600' },
  { tag: t.special(t.variableName), color: '#953800' },
  { tag: t.string, color: '#0a3069' },
  { tag: t.special(t.string), color: '#116329' },
  { tag: t.number, color: '#0550ae' },
  { tag: t.atom, color: '#cf222e' },
  { tag: t.standard(t.variableName), color: '#6639ba' },
  { tag: t.comment, color: '#6e7781' },
  { tag: t.operator, color: '#cf222e' },
]);

export const darkHighlight = HighlightStyle.define([
  ...common,
  { tag: t.keyword, color: '#d2a8ff', fontWeight: '600' },
  { tag: t.definition(t.variableName), color: '#79c0ff', fontWeight: '600' },
  { tag: t.special(t.variableName), color: '#ffa657' },
  { tag: t.string, color: '#a5d6ff' },
  { tag: t.special(t.string), color: '#7ee787' },
  { tag: t.number, color: '#79c0ff' },
  { tag: t.atom, color: '#ff7b72' },
  { tag: t.standard(t.variableName), color: '#d2a8ff' },
  { tag: t.comment, color: '#8b949e' },
  { tag: t.operator, color: '#ff7b72' },
]);
