import { Alert, Anchor, Button, Group, Paper, Stack, Text, TextInput, Title } from '@mantine/core';
import { useEffect, useRef, useState } from 'react';
import { useDraft } from '../../lib/draft.js';
import { DraftNote } from '../../components/DraftNote.js';
import { Link, useSearchParams } from 'react-router';
import type { RuleDiagnosticView, RulesetCreated } from '#contracts';
import { useSession } from '../../auth/AuthContext.js';
import { ErrorNote } from '../../components/AsyncView.js';
import { SpecimenClientError } from '../../lib/api.js';
import { plural } from '../../lib/format.js';
import { DiagnosticsList } from '../../yara/Diagnostics.js';
import { YaraEditor, focusLine } from '../../yara/YaraEditor.js';

const TEMPLATE = `rule example_rule : demo
{
  meta:
    description = "what this rule finds"
    score = 50
    severity = "suspicious"
  strings:
    $a = "example"
  condition:
    $a
}
`;

/** The compiler's diagnostics carried by a 400 (no rule compiled), if it carries any. */
export function diagnosticsOfError(e: unknown): RuleDiagnosticView[] | null {
  if (!(e instanceof SpecimenClientError) || e.code !== 'VALIDATION_FAILED') return null;
  const list = e.details?.diagnostics;
  return Array.isArray(list) ? (list as RuleDiagnosticView[]) : null;
}

/** Writes a new version of a ruleset (from an existing one, or from a template) and compiles it. */
export function RuleEditorPage() {
  const [params] = useSearchParams();
  const from = params.get('from');
  // One editor per starting point: its draft is that one's.
  return <RuleEditor key={from ?? 'new'} from={from} />;
}

function RuleEditor({ from }: { from: string | null }) {
  const { api } = useSession();
  // What is typed is kept for this tab until it is saved: leaving the page or reloading loses nothing.
  const draftKey = `ruleset:${from ?? 'new'}`;
  const nameDraft = useDraft(`${draftKey}:name`, '');
  const sourceDraft = useDraft(`${draftKey}:source`, from === null ? TEMPLATE : '');
  const name = nameDraft.value;
  const source = sourceDraft.value;
  const [loadError, setLoadError] = useState<unknown>(undefined);
  const [diagnostics, setDiagnostics] = useState<RuleDiagnosticView[]>([]);
  const [created, setCreated] = useState<RulesetCreated | null>(null);
  const [failure, setFailure] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const editorBox = useRef<HTMLDivElement>(null);

  const { load: loadName } = nameDraft;
  const { load: loadSource } = sourceDraft;
  useEffect(() => {
    if (from === null) return;
    api.ruleset(from).then(
      (r) => {
        loadName(r.name);
        loadSource(r.source);
      },
      (e: unknown) => setLoadError(e),
    );
  }, [api, from, loadName, loadSource]);

  const save = async () => {
    setBusy(true);
    setFailure(undefined);
    setCreated(null);
    try {
      const result = await api.createRuleset(name.trim(), source);
      // Saved: the kept draft has done its work; the editor keeps what it shows, typed since included.
      nameDraft.saved();
      sourceDraft.saved();
      setCreated(result);
      setDiagnostics(result.diagnostics);
    } catch (e) {
      const list = diagnosticsOfError(e);
      setDiagnostics(list ?? []);
      setFailure(e);
    } finally {
      setBusy(false);
    }
  };
  const errors = diagnostics.filter((d) => d.severity === 'error').length;

  return (
    <Stack>
      <Anchor component={Link} to="/rules" size="sm">
        ← Rules
      </Anchor>
      <Title order={2}>New ruleset version</Title>
      {loadError === undefined ? null : <ErrorNote error={loadError} />}
      {sourceDraft.restored || nameDraft.restored ? (
        <DraftNote
          onDiscard={() => {
            nameDraft.discard('');
            sourceDraft.discard(from === null ? TEMPLATE : '');
            if (from !== null) {
              api.ruleset(from).then(
                (r) => {
                  nameDraft.load(r.name);
                  sourceDraft.load(r.source);
                },
                (e: unknown) => setLoadError(e),
              );
            }
          }}
        />
      ) : null}
      <TextInput
        label="Ruleset name"
        description="also the YARA namespace; an existing name gets its next version"
        value={name}
        onChange={(e) => nameDraft.edit(e.currentTarget.value)}
        w={360}
        data-testid="ruleset-name"
      />
      <Paper withBorder p="sm" ref={editorBox}>
        <YaraEditor
          value={source}
          onChange={sourceDraft.edit}
          diagnostics={diagnostics}
          label="YARA source"
        />
      </Paper>
      <Group>
        <Button
          onClick={() => void save()}
          loading={busy}
          disabled={name.trim() === '' || source.trim() === ''}
          data-testid="save-ruleset"
        >
          Compile and save as staging
        </Button>
        <Text size="sm" c="dimmed">
          Rules that do not compile are quarantined; the others are saved as a staging version.
        </Text>
      </Group>
      {created === null ? null : (
        <Alert color={errors > 0 ? 'yellow' : 'teal'} data-testid="ruleset-created">
          Saved {created.name} v{created.version} in staging: {plural(created.ruleCount, 'rule')} compiled
          {created.quarantined.length > 0 ? `, quarantined: ${created.quarantined.join(', ')}` : ''}.{' '}
          <Anchor component={Link} to={`/rules/${created.id}`} data-testid="open-created">
            Open v{created.version}
          </Anchor>
        </Alert>
      )}
      {failure === undefined ? null : <ErrorNote error={failure} title="Not saved" />}
      <DiagnosticsList diagnostics={diagnostics} onSelect={(line) => focusLine(editorBox.current, line)} />
    </Stack>
  );
}
