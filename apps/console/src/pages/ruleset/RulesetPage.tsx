import {
  Anchor,
  Button,
  Checkbox,
  Group,
  Modal,
  Paper,
  Select,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { RULE_STATES, type RuleState, type RulesetSummaryView, type RulesetView } from '#contracts';
import { useSession } from '../../auth/AuthContext.js';
import { AsyncView } from '../../components/AsyncView.js';
import { RulesetStatusBadge } from '../../components/Badges.js';
import { errorMessage } from '../../lib/api.js';
import { formatTime, plural } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { DiagnosticsList } from '../../yara/Diagnostics.js';
import { YaraEditor, focusLine } from '../../yara/YaraEditor.js';
import { VisibleText } from '../../components/VisibleText.js';
import { revealedText } from '../../lib/visible.js';

function ActivateButton({ ruleset, onDone }: { ruleset: RulesetView; onDone: () => void }) {
  const { api } = useSession();
  const [opened, { open, close }] = useDisclosure(false);
  const [retroscan, setRetroscan] = useState(false);
  const [busy, setBusy] = useState(false);
  // The version this one replaces, named in the dialog: activating another ruleset's version stops every
  // rule of the one active now, which "the version active now is disabled" did not make plain.
  const [replaced, setReplaced] = useState<RulesetSummaryView | null | undefined>(undefined);
  useEffect(() => {
    if (!opened) return;
    let live = true;
    setReplaced(undefined);
    api.rulesets().then(
      (all) => live && setReplaced(all.find((r) => r.status === 'active') ?? null),
      () => live && setReplaced(undefined),
    );
    return () => {
      live = false;
    };
  }, [opened, api]);
  const activate = async () => {
    setBusy(true);
    try {
      await api.activate(ruleset.id, retroscan);
      notifications.show({
        title: `${revealedText(ruleset.name)} v${ruleset.version} is active`,
        message: retroscan
          ? 'Every stored sample will be rescanned with it.'
          : 'New samples are scanned with it.',
        color: 'teal',
      });
      close();
      onDone();
    } catch (e) {
      notifications.show({ title: 'Activation refused', message: errorMessage(e), color: 'red' });
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Button onClick={open} data-testid="activate">
        Activate…
      </Button>
      <Modal
        opened={opened}
        onClose={close}
        title={`Activate ${revealedText(ruleset.name)} v${ruleset.version}?`}
        centered
      >
        <Stack>
          <Text size="sm" data-testid="activate-replaces">
            Every scan from now on uses this version;{' '}
            {replaced === undefined ? (
              'the version active now is disabled'
            ) : replaced === null ? (
              'no version is active now'
            ) : (
              <>
                <b>
                  <VisibleText value={replaced.name} /> v{replaced.version}
                </b>{' '}
                ({plural(replaced.ruleCount, 'rule')}), active now, is disabled
              </>
            )}
            . Rules that did not compile ({ruleset.quarantined.length}) never run.
          </Text>
          {replaced !== undefined && replaced !== null && replaced.name !== ruleset.name ? (
            <Text size="sm" c="orange" data-testid="activate-other-ruleset">
              It is another ruleset: none of the rules of <VisibleText value={replaced.name} /> will run any
              more, and verdicts they gave change as samples are rescanned.
            </Text>
          ) : null}
          <Checkbox
            label="Retro-scan: also rescan every stored sample with this version (low priority)"
            checked={retroscan}
            onChange={(e) => setRetroscan(e.currentTarget.checked)}
            data-testid="retroscan"
          />
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button onClick={() => void activate()} loading={busy} data-testid="confirm-activate">
              Activate
            </Button>
          </Group>
        </Stack>
      </Modal>
    </>
  );
}

function RuleStates({ ruleset, onChanged }: { ruleset: RulesetView; onChanged: () => void }) {
  const { api, may, identity } = useSession();
  const editable =
    may('PATCH /v1/rulesets/{id}/rules/{rule}') &&
    (ruleset.status === 'staging' || identity.role === 'admin');
  // On the active version a change can move verdicts: the samples it affects are rescanned unless unticked.
  const [rescan, setRescan] = useState(true);
  const active = ruleset.status === 'active';
  const change = async (rule: string, state: RuleState) => {
    try {
      const changed = await api.setRuleState(ruleset.id, rule, state, active && rescan);
      notifications.show({
        message:
          changed.rescan === undefined
            ? `${rule} is now ${state}`
            : `${rule} is now ${state}; ${changed.rescan.allSamples ? 'every sample' : 'the samples it matched'} will be rescanned`,
        color: 'teal',
      });
      onChanged();
    } catch (e) {
      notifications.show({ title: 'Not changed', message: errorMessage(e), color: 'red' });
    }
  };
  return (
    <Stack gap="xs">
      {active && editable ? (
        <Checkbox
          size="xs"
          checked={rescan}
          onChange={(e) => setRescan(e.currentTarget.checked)}
          label="Rescan the samples a change affects (those the rule matched; every sample when a disabled rule comes back)"
          data-testid="rule-rescan"
        />
      ) : null}
      <Table.ScrollContainer minWidth={600}>
        <Table striped verticalSpacing={4} data-testid="rules">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Rule</Table.Th>
              <Table.Th>State</Table.Th>
              <Table.Th>Changed</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {ruleset.rules.map((r, i) => (
              // A name defined twice is listed twice (the later one quarantined).
              <Table.Tr key={`${i}:${r.name}`}>
                <Table.Td ff="monospace">{r.name}</Table.Td>
                <Table.Td>
                  {r.state === 'quarantined' || !editable ? (
                    <Text size="sm" c={r.state === 'quarantined' ? 'red' : undefined}>
                      {r.state}
                    </Text>
                  ) : (
                    <Select
                      size="xs"
                      w={140}
                      data={[...RULE_STATES]}
                      value={r.state}
                      allowDeselect={false}
                      aria-label={`State of ${r.name}`}
                      onChange={(v) => {
                        if (v !== null && v !== r.state) void change(r.name, v);
                      }}
                    />
                  )}
                </Table.Td>
                <Table.Td>
                  {r.changedAt === undefined ? null : (
                    <Text size="xs" c="dimmed" data-testid="rule-changed">
                      {formatTime(r.changedAt)} by <VisibleText value={r.changedBy?.name ?? 'unknown'} />
                    </Text>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </Stack>
  );
}

/** One ruleset version: its source with the compiler's messages, rule states, activation. */
export function RulesetPage() {
  const { id = '' } = useParams();
  const { api, may } = useSession();
  const ruleset = useAsync(() => api.ruleset(id), [id]);
  const editorBox = useRef<HTMLDivElement>(null);
  return (
    <AsyncView state={ruleset} label="Loading the ruleset">
      {(r) => (
        <Stack>
          <Anchor component={Link} to="/rules" size="sm">
            ← Rules
          </Anchor>
          <Group justify="space-between">
            <Group gap="sm">
              <Title order={2}>
                <VisibleText value={r.name} /> v{r.version}
              </Title>
              <RulesetStatusBadge status={r.status} />
            </Group>
            <Group gap="sm">
              {may('POST /v1/rulesets') ? (
                <Button
                  variant="default"
                  component={Link}
                  to={`/rules/new?from=${r.id}`}
                  data-testid="new-version"
                >
                  New version from this
                </Button>
              ) : null}
              {r.status !== 'active' && may('POST /v1/rulesets/{id}/activate') ? (
                <ActivateButton ruleset={r} onDone={ruleset.reload} />
              ) : null}
            </Group>
          </Group>
          <Text size="sm" c="dimmed">
            {plural(r.ruleCount, 'rule')} compiled, {r.quarantined.length} quarantined · created{' '}
            {formatTime(r.createdAt)}
            {r.activatedAt === null ? '' : ` · activated ${formatTime(r.activatedAt)}`} · source sha256{' '}
            <Text span ff="monospace" size="xs">
              {r.sourceSha256.slice(0, 16)}…
            </Text>
          </Text>
          <Paper withBorder p="sm" ref={editorBox}>
            <YaraEditor
              value={r.source}
              diagnostics={r.diagnostics}
              readOnly
              label={`Source of ${r.name} v${r.version}`}
            />
          </Paper>
          <DiagnosticsList
            diagnostics={r.diagnostics}
            onSelect={(line) => focusLine(editorBox.current, line)}
          />
          <Title order={4}>Rules</Title>
          <RuleStates ruleset={r} onChanged={ruleset.reload} />
        </Stack>
      )}
    </AsyncView>
  );
}
