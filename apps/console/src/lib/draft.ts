import { useCallback, useState } from 'react';

const PREFIX = 'specimen.draft.';

function read(key: string): string | null {
  try {
    return sessionStorage.getItem(PREFIX + key);
  } catch {
    return null;
  }
}

function write(key: string, value: string | null): void {
  try {
    if (value === null) sessionStorage.removeItem(PREFIX + key);
    else sessionStorage.setItem(PREFIX + key, value);
  } catch {
    // Storage full or refused: the text stays in the page, as before.
  }
}

export interface Draft {
  value: string;
  /** Whether the value came back from an earlier visit of this tab, not from the page. */
  restored: boolean;
  /** What the person typed: kept for this tab (sessionStorage), so leaving the page loses nothing. */
  edit: (value: string) => void;
  /** What the page loads (a version's source): shown, not kept, and never over a kept draft. */
  load: (value: string) => void;
  /** Forgets the kept text (discarded) and shows `value`. */
  discard: (value: string) => void;
  /** Forgets the kept text once it is saved, leaving what the editor shows (typed since, too) as it is. */
  saved: () => void;
}

/**
 * Text typed into an editor that survives leaving the page or reloading it in this tab: a YARA source
 * written for minutes was lost, without a word, by a click on another page.
 */
export function useDraft(key: string, initial: string): Draft {
  const [state, setState] = useState(() => {
    const kept = read(key);
    return { value: kept ?? initial, restored: kept !== null };
  });
  const edit = useCallback(
    (value: string) => {
      write(key, value);
      setState((s) => ({ ...s, value }));
    },
    [key],
  );
  const load = useCallback(
    (value: string) => {
      if (read(key) === null) setState({ value, restored: false });
    },
    [key],
  );
  const discard = useCallback(
    (value: string) => {
      write(key, null);
      setState({ value, restored: false });
    },
    [key],
  );
  const saved = useCallback(() => {
    write(key, null);
    setState((s) => ({ ...s, restored: false }));
  }, [key]);
  return { ...state, edit, load, discard, saved };
}
