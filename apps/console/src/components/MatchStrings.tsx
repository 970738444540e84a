import { Button, Group } from '@mantine/core';
import { type ReactNode, useState } from 'react';

/** String matches shown before "show all": a rule matching a pattern everywhere records thousands. */
export const STRINGS_SHOWN = 24;

/** The first {@link STRINGS_SHOWN} of a rule's `count` string matches, and a button for the rest. */
export function MatchStrings({ count, children }: { count: number; children: (shown: number) => ReactNode }) {
  const [all, setAll] = useState(false);
  const shown = all ? count : Math.min(count, STRINGS_SHOWN);
  return (
    <Group gap="xs">
      {children(shown)}
      {count > STRINGS_SHOWN ? (
        <Button size="compact-xs" variant="subtle" onClick={() => setAll(!all)} data-testid="all-strings">
          {all ? 'Show fewer' : `Show all ${count}`}
        </Button>
      ) : null}
    </Group>
  );
}
