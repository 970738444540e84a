import { ActionIcon, Anchor, CopyButton, Group, Text, Tooltip } from '@mantine/core';
import { Link } from 'react-router';
import { CheckIcon, CopyIcon } from './icons.js';

/** A hash in monospace (a link when `to` is given) with a one-click copy button. */
export function Hash({
  value,
  label = 'hash',
  truncate = false,
  to,
}: {
  value: string;
  label?: string;
  truncate?: boolean;
  to?: string;
}) {
  const shown = truncate && value.length > 24 ? `${value.slice(0, 16)}…${value.slice(-6)}` : value;
  return (
    <Group gap={4} wrap="nowrap">
      {to === undefined ? (
        <Text ff="monospace" size="sm" title={value} style={{ wordBreak: 'break-all' }}>
          {shown}
        </Text>
      ) : (
        <Anchor component={Link} to={to} ff="monospace" size="sm" title={value}>
          {shown}
        </Anchor>
      )}
      <CopyButton value={value} timeout={1500}>
        {({ copied, copy }) => (
          <Tooltip label={copied ? 'Copied' : `Copy ${label}`} withArrow>
            <ActionIcon
              variant="subtle"
              color={copied ? 'teal' : 'gray'}
              size="sm"
              onClick={(e) => {
                e.stopPropagation();
                copy();
              }}
              aria-label={`Copy ${label} ${value}`}
              data-testid="copy-hash"
            >
              {copied ? <CheckIcon /> : <CopyIcon />}
            </ActionIcon>
          </Tooltip>
        )}
      </CopyButton>
    </Group>
  );
}
