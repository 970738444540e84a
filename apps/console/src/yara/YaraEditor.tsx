import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { bracketMatching, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { lintGutter, setDiagnostics } from '@codemirror/lint';
import { Compartment, EditorState } from '@codemirror/state';
import {
  EditorView,
  drawSelection,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from '@codemirror/view';
import { useComputedColorScheme } from '@mantine/core';
import { useEffect, useRef } from 'react';
import type { RuleDiagnosticView } from '#contracts';
import { darkHighlight, lightHighlight, toEditorDiagnostic } from './editor.js';
import { yaraLanguage } from './yara-language.js';

/**
 * A CodeMirror 6 editor for YARA: highlighting, line numbers, and the compiler's diagnostics shown at
 * their lines (underlined, with a gutter marker and the message on hover).
 */
export function YaraEditor({
  value,
  onChange,
  diagnostics = [],
  readOnly = false,
  label,
}: {
  value: string;
  onChange?: (value: string) => void;
  diagnostics?: RuleDiagnosticView[];
  readOnly?: boolean;
  label: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const theme = useRef(new Compartment());
  const scheme = useComputedColorScheme('light');

  useEffect(() => {
    if (host.current === null) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(),
          highlightActiveLineGutter(),
          highlightActiveLine(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          yaraLanguage,
          theme.current.of([
            syntaxHighlighting(scheme === 'dark' ? darkHighlight : lightHighlight),
            EditorView.theme({}, { dark: scheme === 'dark' }),
          ]),
          lintGutter(),
          keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
          EditorState.readOnly.of(readOnly),
          EditorView.editable.of(!readOnly),
          EditorView.contentAttributes.of({ 'aria-label': label }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) onChangeRef.current?.(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // The editor is made once; value, theme and diagnostics are pushed into it by the effects below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [readOnly]);

  // A value set from outside (a loaded ruleset), not one the editor itself just reported.
  useEffect(() => {
    const v = view.current;
    if (v === null || v.state.doc.toString() === value) return;
    v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value]);

  useEffect(() => {
    view.current?.dispatch({
      effects: theme.current.reconfigure([
        syntaxHighlighting(scheme === 'dark' ? darkHighlight : lightHighlight),
        EditorView.theme({}, { dark: scheme === 'dark' }),
      ]),
    });
  }, [scheme]);

  useEffect(() => {
    const v = view.current;
    if (v === null) return;
    v.dispatch(
      setDiagnostics(
        v.state,
        diagnostics.map((d) => toEditorDiagnostic(v.state.doc, d)),
      ),
    );
  }, [diagnostics, value]);

  return <div ref={host} className="yara-editor" data-testid="yara-editor" />;
}

/** Moves the editor's cursor to a line (from the diagnostics list). */
export function focusLine(container: HTMLElement | null, line: number): void {
  if (container === null) return;
  const dom = container.querySelector('.cm-editor');
  const v = dom === null ? null : EditorView.findFromDOM(dom as HTMLElement);
  if (v === null) return;
  const target = v.state.doc.line(Math.min(Math.max(1, line), v.state.doc.lines));
  v.dispatch({ selection: { anchor: target.from }, scrollIntoView: true });
  v.focus();
}
