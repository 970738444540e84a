import { Alert, Button, Group, Text } from '@mantine/core';

/** Says that the editor shows text kept from earlier in this tab, with a way back to the original. */
export function DraftNote({ onDiscard }: { onDiscard: () => void }) {
  return (
    <Alert color="blue" data-testid="draft-restored">
      <Group justify="space-between">
        <Text size="sm">Your unsaved text from earlier in this tab is back.</Text>
        <Button size="compact-sm" variant="default" onClick={onDiscard} data-testid="discard-draft">
          Discard it
        </Button>
      </Group>
    </Alert>
  );
}
