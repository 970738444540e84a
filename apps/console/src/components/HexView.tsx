import { Button, Group, Paper, Text, TextInput } from '@mantine/core';
import { Fragment, useState } from 'react';
import { useSession } from '../auth/AuthContext.js';
import { hexOffset, lastWindowStart, parseOffset, windowLabel, windowStart } from '../lib/format.js';
import { useAsync } from '../lib/use-async.js';
import { AsyncView } from './AsyncView.js';
import { rowCells } from './hex.js';

const WINDOW = 512;

/**
 * A hex dump of the sample fed only by `GET /v1/samples/:sha256/preview` (the bytes are never fetched
 * any other way), showing the window around `focus` with the selected match highlighted.
 */
export function HexView({
  sha256,
  size,
  focus,
  onFocus,
}: {
  sha256: string;
  size: number;
  focus: { offset: number; length: number } | null;
  onFocus: (f: { offset: number; length: number } | null) => void;
}) {
  const { api } = useSession();
  const start = windowStart(focus?.offset ?? 0);
  const preview = useAsync(() => api.preview(sha256, start, WINDOW), [sha256, start]);
  // While a window is on its way the old rows stay (dimmed): moving on waits for them.
  const busy = preview.loading;
  const step = (delta: number) => {
    const offset = Math.min(Math.max(0, start + delta), Math.max(0, size - 1));
    onFocus({ offset: offset + 4 * 16, length: 0 });
  };
  // Go to an offset (a section's, an embedded image's, one from another tool): the byte is marked.
  const [target, setTarget] = useState('');
  const wanted = target.trim() === '' ? null : parseOffset(target, size);
  const go = () => {
    if (wanted !== null) onFocus({ offset: wanted, length: 1 });
  };

  return (
    <Paper withBorder p="sm">
      <Group justify="space-between" mb="xs">
        <Text size="sm" c="dimmed" data-testid="hex-window" title="first and last offset shown">
          {windowLabel(start, WINDOW, size)}
        </Text>
        <Group gap="xs">
          <TextInput
            size="xs"
            w={130}
            placeholder="offset: 0x… or 123"
            aria-label="Go to offset"
            value={target}
            error={target.trim() !== '' && wanted === null}
            onChange={(e) => setTarget(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') go();
            }}
            data-testid="hex-goto"
          />
          <Button size="compact-xs" variant="default" disabled={wanted === null} onClick={go}>
            Go
          </Button>
          <Button
            size="compact-xs"
            variant="default"
            disabled={start === 0 || busy}
            onClick={() => onFocus(null)}
          >
            Start
          </Button>
          <Button
            size="compact-xs"
            variant="default"
            disabled={start === 0 || busy}
            onClick={() => step(-WINDOW)}
          >
            Previous
          </Button>
          <Button
            size="compact-xs"
            variant="default"
            disabled={start + WINDOW >= size || busy}
            onClick={() => step(WINDOW)}
          >
            Next
          </Button>
          <Button
            size="compact-xs"
            variant="default"
            disabled={start + WINDOW >= size || busy}
            onClick={() => onFocus({ offset: lastWindowStart(size, WINDOW) + 4 * 16, length: 0 })}
          >
            End
          </Button>
        </Group>
      </Group>
      <AsyncView state={preview} label="Reading the preview">
        {(view) => (
          <div
            className="hex-view"
            data-testid="hex-view"
            data-start={view.offset}
            role="region"
            aria-label="Hex view of the preview"
            tabIndex={0}
          >
            {view.rows.map((row) => {
              const cells = rowCells(
                row,
                focus === null || focus.length === 0 ? null : focus.offset,
                focus?.length ?? 0,
              );
              return (
                <div key={row.offset} data-offset={row.offset}>
                  <span className="hex-offset">{hexOffset(row.offset)}</span>
                  {cells.map((c, i) => (
                    <Fragment key={c.offset}>
                      <span className={c.hit ? 'hex-hit' : undefined} data-hit={c.hit ? '' : undefined}>
                        {c.hex}
                      </span>
                      {i < cells.length - 1 ? (i === 7 ? '  ' : ' ') : ''}
                    </Fragment>
                  ))}
                  {' '.repeat(48 - (cells.length * 3 - 1 + (cells.length > 8 ? 1 : 0)))}
                  <span className="hex-ascii">
                    {cells.map((c) => (
                      <span key={c.offset} className={c.hit ? 'hex-hit' : undefined}>
                        {c.ascii}
                      </span>
                    ))}
                  </span>
                </div>
              );
            })}
          </div>
        )}
      </AsyncView>
    </Paper>
  );
}
