import { Badge } from '@mantine/core';
import type { RulesetStatus, ScanStatus, Verdict } from '#contracts';

const VERDICT_COLOR: Record<Verdict, string> = { clean: 'teal', suspicious: 'orange', malicious: 'red' };

export function VerdictBadge({ verdict, status }: { verdict: Verdict | null; status?: ScanStatus }) {
  if (verdict === null) {
    return (
      <Badge color="gray" variant="light" data-testid="verdict">
        {status ?? 'no verdict'}
      </Badge>
    );
  }
  return (
    <Badge color={VERDICT_COLOR[verdict]} variant="filled" data-testid="verdict">
      {verdict}
    </Badge>
  );
}

const STATUS_COLOR: Record<RulesetStatus, string> = { active: 'teal', staging: 'blue', disabled: 'gray' };

export function RulesetStatusBadge({ status }: { status: RulesetStatus }) {
  return (
    <Badge color={STATUS_COLOR[status]} variant="light">
      {status}
    </Badge>
  );
}
