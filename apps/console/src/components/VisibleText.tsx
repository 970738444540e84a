import { Fragment } from 'react';
import { revealHidden } from '../lib/visible.js';

/**
 * Text someone else supplied (file names, metadata, names, rule meta, audit details), shown with its
 * control and format characters made visible as a muted `⟨U+202E⟩`, and isolated so it cannot reorder
 * the text around it. Use it for every such string on screen.
 */
export function VisibleText({ value }: { value: string }) {
  return (
    <span className="visible-text">
      {revealHidden(value).map((p, i) =>
        'hidden' in p ? (
          <span key={i} className="hidden-char" title={`${p.codePoint}: an invisible character`}>
            ⟨{p.codePoint}⟩
          </span>
        ) : (
          <Fragment key={i}>{p.text}</Fragment>
        ),
      )}
    </span>
  );
}
