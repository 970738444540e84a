import { Badge, Group, Stack, Text, UnstyledButton } from '@mantine/core';
import type { RuleDiagnosticView } from '#contracts';

/** The compiler's messages, each naming its line; selecting one moves the editor there. */
export function DiagnosticsList({
  diagnostics,
  onSelect,
}: {
  diagnostics: RuleDiagnosticView[];
  onSelect?: (line: number) => void;
}) {
  if (diagnostics.length === 0) return null;
  return (
    <Stack gap={4} data-testid="diagnostics" aria-label="Compiler messages">
      {diagnostics.map((d, i) => (
        <UnstyledButton
          key={`${d.line}-${i}`}
          onClick={() => onSelect?.(d.line)}
          data-testid="diagnostic"
          data-line={d.line}
          data-severity={d.severity}
        >
          <Group gap="xs" wrap="nowrap">
            <Badge color={d.severity === 'error' ? 'red' : 'yellow'} size="sm" miw={70}>
              {d.severity}
            </Badge>
            <Text size="sm" ff="monospace">
              line {d.line}
              {d.column === null ? '' : `:${d.column}`}
            </Text>
            <Text size="sm">
              {d.rule === null ? '' : <b>{d.rule}: </b>}
              {d.message}
            </Text>
          </Group>
        </UnstyledButton>
      ))}
    </Stack>
  );
}
