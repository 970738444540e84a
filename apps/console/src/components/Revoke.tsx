import { Badge, Button, Group, Modal, Stack } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { type ReactNode, useState } from 'react';
import { errorMessage } from '../lib/api.js';
import { formatTime } from '../lib/format.js';

/** A table cell: a button that asks to revoke, or when the thing is revoked, since when. */
export function RevokeCell({
  revokedAt,
  onAsk,
  testId,
}: {
  revokedAt: string | null;
  onAsk: () => void;
  testId: string;
}) {
  return revokedAt === null ? (
    <Button size="compact-xs" color="red" variant="light" onClick={onAsk} data-testid={testId}>
      Revoke…
    </Button>
  ) : (
    <Badge color="red" variant="outline">
      revoked {formatTime(revokedAt)}
    </Badge>
  );
}

/**
 * What {@link ConfirmRevoke} needs: the thing asked about (null: closed), and a revocation that reports
 * its own success and failure.
 */
export function useRevoke<T>(
  revoke: (target: T) => Promise<unknown>,
  done: (target: T) => string,
  reload: () => void,
) {
  const [target, setTarget] = useState<T | null>(null);
  const [busy, setBusy] = useState(false);
  const confirm = async () => {
    if (target === null) return;
    setBusy(true);
    try {
      await revoke(target);
      notifications.show({ message: done(target), color: 'teal' });
      setTarget(null);
      reload();
    } catch (e) {
      notifications.show({ title: 'Not revoked', message: errorMessage(e), color: 'red' });
    } finally {
      setBusy(false);
    }
  };
  return { target, ask: setTarget, close: () => setTarget(null), busy, confirm };
}

/** Asks before a revocation; `children` says what it does. */
export function ConfirmRevoke({
  state,
  title,
  testId,
  children,
}: {
  state: { target: unknown; close: () => void; busy: boolean; confirm: () => Promise<void> };
  title: string;
  testId: string;
  children: ReactNode;
}) {
  return (
    <Modal opened={state.target !== null} onClose={state.close} title={title} centered>
      <Stack>
        {children}
        <Group justify="flex-end">
          <Button variant="default" onClick={state.close}>
            Keep
          </Button>
          <Button color="red" loading={state.busy} onClick={() => void state.confirm()} data-testid={testId}>
            Revoke
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
