// The analyst console in a real browser (Debian's Chromium driven by playwright-core) against the real
// API and scanner: sign-in, search, sample detail, hex view, download, rule editor, activation.
// Screenshots of each main page land in test-artifacts/console/ (git-ignored) for a person to look at.
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { projectRoot } from '#config';
import { EICAR, TestService, benign, fileMetadata, pollUntil, sfdiskImage, sha256 } from '#test-support';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(projectRoot(), 'test-artifacts', 'console');
const WAIT = 30_000;
/** What the rule activated in the rules test finds (that ruleset stays active for the later tests). */
const MARKER = 'SPECIMEN-CONSOLE-E2E-MARKER';

interface SampleState {
  scanStatus: string;
  verdict: string | null;
}

/** Submits `bytes` as the admin and waits for its scan; returns the sha256 and verdict. */
async function submitAndScan(service: TestService, bytes: Buffer, filename: string): Promise<SampleState> {
  const res = await service.submit(bytes, fileMetadata(bytes, { filename }), service.adminToken);
  assert.equal(res.status, 201, await res.clone().text());
  return pollUntil(
    async () => {
      const sample = (await (await service.request(`/v1/samples/${sha256(bytes)}`)).json()) as SampleState;
      return sample.scanStatus === 'scanned' ? sample : undefined;
    },
    { timeoutMs: WAIT, what: `the scan of ${filename}` },
  );
}

/** `bytes` with the EICAR string inside benign bytes at `offset`. */
function embedded(size: number, offset: number): Buffer {
  const bytes = Buffer.alloc(size, 0x41);
  EICAR.copy(bytes, offset);
  return bytes;
}

describe('analyst console (browser)', () => {
  // k = 2 so that three agents are enough to publish statistics (and one country stays under k).
  const service = new TestService({ env: { STATS_K_ANONYMITY: '2' } });
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let analystToken: string;
  const problems: string[] = [];

  /** A full-page screenshot from the top (scrolled, the fixed header would be drawn mid-page). */
  const shot = async (name: string) => {
    await page.evaluate('window.scrollTo(0, 0)');
    // Transitions finished at once: a dialog shot as it fades in showed half-transparent.
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true, animations: 'disabled' });
  };

  /** A new tab (so a new, empty sessionStorage), watched for whatever goes wrong in it. */
  async function openPage(): Promise<Page> {
    const p = await context.newPage();
    p.setDefaultTimeout(WAIT);
    p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    p.on('console', (m) => {
      if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    p.on('response', (r) => {
      if (r.status() >= 400 && r.status() !== 401) problems.push(`${r.status()} ${r.url()}`);
      if (/\/assets\/[^/]+\.(?:js|css)$/.test(new URL(r.url()).pathname))
        assetCodings.set(new URL(r.url()).pathname, r.headers()['content-encoding'] ?? 'identity');
    });
    return p;
  }

  /** The content coding each script and style sheet of the console came in, by path. */
  const assetCodings = new Map<string, string>();

  /** The problems seen since the last call. */
  const takeProblems = (): string[] => problems.splice(0);

  async function signIn(token: string): Promise<void> {
    await page.close();
    page = await openPage();
    await page.goto(`${service.baseUrl}/`);
    await page.getByTestId('token-input').fill(token);
    await page.getByTestId('sign-in').click();
    await page.getByTestId('sign-out').waitFor({ timeout: WAIT });
  }

  before(async () => {
    await mkdir(SHOTS, { recursive: true });
    await service.start();
    analystToken = await service.token('analyst', 'analyst-console');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
    page = await openPage();
  });
  after(async () => {
    await browser?.close();
    await service.stop();
  });

  it('is served by the API at / with its CSP, and /v1 stays the API', async () => {
    const html = await fetch(`${service.baseUrl}/samples`, { headers: { accept: 'text/html' } });
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const api = await fetch(`${service.baseUrl}/v1/samples`, { headers: { accept: 'text/html' } });
    assert.equal(api.status, 401);
  });

  it('sends the browser its scripts and styles compressed at build time', async () => {
    assetCodings.clear();
    await page.goto(`${service.baseUrl}/`);
    await page.getByTestId('token-input').waitFor();
    assert.ok(assetCodings.size > 0, 'the page loaded scripts from /assets/');
    for (const [path, coding] of assetCodings) {
      if (coding === 'identity') {
        // The build leaves files under 1 KiB as they are.
        const size = (await (await fetch(`${service.baseUrl}${path}`)).arrayBuffer()).byteLength;
        assert.ok(size < 1024, `${path} (${size} bytes) came uncompressed`);
        continue;
      }
      // Chromium asks for brotli over HTTPS only; gzip here, over plain HTTP.
      assert.ok(['br', 'gzip'].includes(coding), `${path} came as ${coding}`);
    }
    assert.ok(
      [...assetCodings.values()].some((c) => c !== 'identity'),
      'some came compressed',
    );
  });

  it('signs in with a token, shows the navigation of its role, and signs out', async () => {
    await page.goto(`${service.baseUrl}/`);
    await page.getByTestId('token-input').fill('spk_not-a-token');
    await page.getByTestId('sign-in').click();
    await page.getByTestId('sign-in-error').waitFor();
    assert.match(await page.getByTestId('sign-in-error').innerText(), /unknown or revoked/);
    await shot('01-sign-in');

    await signIn(analystToken);
    assert.equal(await page.getByTestId('role').innerText(), 'ANALYST');
    assert.equal(await page.getByTestId('identity').innerText(), 'analyst-console');
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.getByText('Samples').count(), 1);
    assert.equal(await nav.getByText('Rules').count(), 1);
    // An analyst may not list agents: no admin page for this role.
    assert.equal(await nav.getByText('Admin').count(), 0);
    // Only an admin may activate a ruleset: on a staging version the analyst sees no such button.
    const staged = await service.request('/v1/rulesets', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'staged', source: 'rule staged_rule { condition: false }' }),
    });
    assert.equal(staged.status, 201, await staged.clone().text());
    await nav.getByText('Rules').click();
    await page.locator('[data-testid="ruleset-row"][data-name="staged"]').getByRole('link').click();
    await page.getByTestId('rules').waitFor();
    assert.match(await page.locator('main').innerText(), /STAGING/);
    assert.equal(await page.getByTestId('new-version').count(), 1);
    assert.equal(await page.getByTestId('activate').count(), 0);
    assert.equal(
      await page.evaluate(() => globalThis.sessionStorage.getItem('specimen.console.token')),
      analystToken,
    );

    // The token survives a reload of the tab (sessionStorage), and sign-out forgets it.
    await page.reload();
    await page.getByTestId('sign-out').waitFor();
    // A reload while the service cannot be reached (network error, then a 503) keeps the token, says so
    // and offers a retry; only a 401 forgets it.
    for (const fail of ['abort', 'unavailable'] as const) {
      takeProblems();
      await page.route('**/v1/me', (route) =>
        fail === 'abort'
          ? route.abort('connectionrefused')
          : route.fulfill({
              status: 503,
              contentType: 'application/json',
              body: JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'down for a moment' } }),
            }),
      );
      await page.reload();
      await page.getByTestId('unreachable').waitFor();
      assert.match(await page.getByTestId('unreachable').innerText(), /Cannot reach the service/);
      assert.equal(
        await page.evaluate(() => globalThis.sessionStorage.getItem('specimen.console.token')),
        analystToken,
      );
      await shot(`01b-unreachable-${fail}`);
      await page.unroute('**/v1/me');
      await page.getByTestId('unreachable-retry').click();
      await page.getByTestId('sign-out').waitFor();
      const seen = takeProblems();
      assert.ok(
        seen.every((p) => /\/v1\/me|ERR_CONNECTION_REFUSED|status of 503/.test(p)),
        seen.join('\n'),
      );
    }
    await page.getByTestId('sign-out').click();
    await page.getByTestId('token-input').waitFor();
    assert.equal(
      await page.evaluate(() => globalThis.sessionStorage.getItem('specimen.console.token')),
      null,
    );
  });

  it('finds an uploaded sample, shows its EICAR match, moves the hex view to a match and downloads a ZIP', async () => {
    const eicar = await submitAndScan(service, EICAR, 'eicar.com');
    assert.equal(eicar.verdict, 'malicious');
    const inner = embedded(6000, 4100);
    const innerState = await submitAndScan(service, inner, 'embedded.bin');
    assert.equal(innerState.verdict, 'suspicious');

    await signIn(service.adminToken);
    await page.getByRole('navigation', { name: 'Main' }).getByText('Samples').click();
    const eicarRow = page.locator(`[data-testid="sample-row"][data-sha256="${sha256(EICAR)}"]`);
    await eicarRow.waitFor();

    // The hash filter goes through the form into the URL, and the table shows only that sample.
    await page.getByTestId('filter-hash').fill(sha256(EICAR));
    await page.getByTestId('search').click();
    await page.waitForURL(/hash=275a02/);
    await pollUntil(async () => ((await page.getByTestId('sample-row').count()) === 1 ? true : undefined), {
      what: 'the search to show one row',
    });
    await shot('02-samples');
    // Filters live in the URL: opening it afresh gives the same search.
    await page.goto(page.url());
    await eicarRow.waitFor();
    assert.equal(await page.getByTestId('sample-row').count(), 1);

    // The file type and country filters reach the API: EICAR is no ELF, and no agent in Antarctica saw it.
    for (const filter of ['fileType=elf', 'country=AQ']) {
      await page.goto(`${page.url()}&${filter}`);
      await page.getByText('No sample matches these filters.').waitFor();
      await page.goBack();
      await eicarRow.waitFor();
    }
    assert.equal(await page.getByTestId('filter-file-type').inputValue(), '');

    // A refused input says so, with the service's reason, and offers no pointless retry.
    await page.getByTestId('filter-hash').fill('not-a-hash');
    await page.getByTestId('search').click();
    const refusal = page.getByRole('alert');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /Not accepted: check what was entered[\s\S]*hash must be an md5/);
    assert.equal(await refusal.getByRole('button', { name: 'Try again' }).count(), 0);
    const seen = takeProblems();
    assert.ok(
      seen.length > 0 && seen.every((p) => /^400 |status of 400/.test(p)),
      `only the refused search: ${seen.join(', ')}`,
    );
    await page.getByTestId('filter-hash').fill(sha256(EICAR));
    await page.getByTestId('search').click();
    await eicarRow.waitFor();

    await eicarRow.getByRole('link').click();
    await page.waitForURL(/\/samples\/275a02/);
    const match = page.locator('[data-testid="match"][data-rule="EICAR_Test_File"]');
    await match.waitFor();
    assert.equal(await page.getByTestId('verdict').first().innerText(), 'MALICIOUS');
    assert.match(await page.getByTestId('zip-password').innerText(), /infected/);
    await page.getByTestId('hex-view').waitFor();
    await shot('03-sample-eicar');

    const download = page.waitForEvent('download');
    await page.getByTestId('download').click();
    const file = await download;
    const path = await file.path();
    const zip = await readFile(path);
    assert.deepEqual([...zip.subarray(0, 4)], [0x50, 0x4b, 0x03, 0x04], 'a ZIP local file header');
    assert.match(file.suggestedFilename(), /\.zip$/);

    // The embedded EICAR string at 4100: the hex view starts at 0 and moves to the match when it is clicked.
    await page.goto(`${service.baseUrl}/samples/${sha256(inner)}`);
    await page.locator('[data-testid="match"][data-rule="EICAR_Test_String_Embedded"]').waitFor();
    const hex = page.getByTestId('hex-view');
    await hex.waitFor();
    assert.equal(await hex.getAttribute('data-start'), '0');
    await page.locator('[data-testid="match-string"][data-offset="4100"]').click();
    await page.locator('[data-testid="hex-view"][data-start="4032"]').waitFor();
    const hits = page.locator('[data-testid="hex-view"] [data-hit]');
    assert.equal(await hits.count(), EICAR.length);
    assert.equal(await hits.first().innerText(), EICAR[0]?.toString(16));
    await shot('04-sample-hex-jump');
    // The window pages on through the preview endpoint: Next shows the following 512 bytes. While they
    // are on their way the old rows stay covered and the buttons wait.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route('**/preview?*', async (route) => {
      await held;
      await route.continue();
    });
    const next = page.getByRole('button', { name: 'Next', exact: true });
    await next.click();
    await page.locator('[data-stale] [data-testid="hex-view"][data-start="4032"]').waitFor();
    assert.equal(await next.isDisabled(), true);
    release();
    await page.locator('[data-testid="hex-view"][data-start="4544"]').waitFor();
    await page.unroute('**/preview?*');
    assert.equal(await page.locator('[data-stale]').count(), 0);
    // Keyboard: a matched string is a button; Enter on it brings the view back to the match.
    await page.locator('[data-testid="match-string"][data-offset="4100"]').focus();
    await page.keyboard.press('Enter');
    await page.locator('[data-testid="hex-view"][data-start="4032"]').waitFor();
    // Go to an offset typed in hex (the byte is marked), and to the end of the sample (6000 bytes).
    await page.getByTestId('hex-goto').fill('0x800');
    await page.getByTestId('hex-goto').press('Enter');
    await page.locator('[data-testid="hex-view"][data-start="1984"]').waitFor();
    assert.equal(await hits.count(), 1);
    await page.getByRole('button', { name: 'End', exact: true }).click();
    await page.locator('[data-testid="hex-view"][data-start="5488"]').waitFor();

    await page.getByTestId('tab-scans').click();
    await page.getByTestId('scans').waitFor();
    assert.ok((await page.getByTestId('scans').innerText()).includes('EICAR_Test_String_Embedded'));
    await page.getByTestId('tab-sightings').click();
    await page.getByTestId('sightings').waitFor();
    assert.ok((await page.getByTestId('sightings').innerText()).includes('embedded.bin'));
    await shot('05-sample-sightings');
  });

  it("shows a boot record's partition tables and its kind metadata", async () => {
    const { head } = await sfdiskImage('label: gpt\n,8MiB,U\n,,L\n', 34 * 512);
    const metadata = {
      ...fileMetadata(head),
      kind: 'boot-record',
      filename: undefined,
      device: '/dev/sda',
      lba: 0,
      sectorSize: 512,
      scheme: 'gpt',
    };
    const res = await service.submit(
      head,
      JSON.parse(JSON.stringify(metadata)) as Record<string, unknown>,
      service.adminToken,
    );
    assert.equal(res.status, 201, await res.clone().text());
    await pollUntil(
      async () => {
        const s = (await (await service.request(`/v1/samples/${sha256(head)}`)).json()) as SampleState;
        return s.scanStatus === 'scanned' ? true : undefined;
      },
      { timeoutMs: WAIT, what: 'the boot record scan' },
    );
    await page.goto(`${service.baseUrl}/samples/${sha256(head)}`);
    const gpt = page.getByTestId('gpt-table');
    await gpt.waitFor();
    const text = await gpt.innerText();
    assert.match(text, /EFI system/i);
    assert.match(text, /Linux filesystem/);
    assert.match(await page.getByTestId('partition-table').innerText(), /protective/i);
    assert.match(await page.getByTestId('kind-metadata').innerText(), /\/dev\/sda/);
    await shot('06-sample-boot-record');
  });

  it("shows a fragment's parent as a link and nested metadata as rows", async () => {
    const parent = benign(9000);
    await submitAndScan(service, parent, 'parent.bin');
    const piece = parent.subarray(1000, 3000);
    const res = await service.submit(
      piece,
      fileMetadata(piece, {
        kind: 'file-fragment',
        parent: { sha256: sha256(parent), size: parent.length },
        offset: 1000,
        length: piece.length,
      }),
      service.adminToken,
    );
    assert.equal(res.status, 201, await res.clone().text());
    await page.goto(`${service.baseUrl}/samples/${sha256(piece)}`);
    const link = page.getByTestId('kind-metadata').getByTestId('metadata-sample-link');
    await link.waitFor();
    assert.equal(await link.innerText(), sha256(parent));
    const metadata = await page.getByTestId('kind-metadata').innerText();
    assert.doesNotMatch(metadata, /[{}"]/, 'no raw JSON');
    assert.match(metadata, /size\s+9000/);
    // Each sighting's metadata as rows too, without the kind and file name its columns show.
    await page.getByTestId('tab-sightings').click();
    const sighting = page.getByTestId('sighting-metadata').first();
    await sighting.waitFor();
    const rows = await sighting.innerText();
    assert.doesNotMatch(rows, /[{}"]/, 'no raw JSON');
    assert.match(rows, /offset\s+1000/);
    assert.doesNotMatch(rows, /file-fragment/);
    assert.equal(await sighting.getByTestId('metadata-sample-link').innerText(), sha256(parent));
    await shot('07-sample-fragment');
    await link.click();
    await page.waitForURL(new RegExp(`/samples/${sha256(parent)}$`));
  });

  it('shows the bidi override in a spoofed file name instead of obeying it', async () => {
    const bytes = benign(1234);
    const spoofed = 'invoice\u202Efdp.exe';
    await submitAndScan(service, bytes, spoofed);
    await page.goto(`${service.baseUrl}/samples/${sha256(bytes)}`);
    const metadata = page.getByTestId('kind-metadata');
    await metadata.waitFor();
    // The override is shown as a marker, never left in the text where it would reverse "fdp.exe".
    assert.match(await metadata.innerText(), /invoice⟨U\+202E⟩fdp\.exe/);
    assert.doesNotMatch(await metadata.innerText(), /\u202E/);
    await page.getByTestId('tab-sightings').click();
    const filename = page.getByTestId('sighting-filename').first();
    await filename.waitFor();
    assert.equal(await filename.innerText(), 'invoice⟨U+202E⟩fdp.exe');
    await shot('07c-sample-spoofed-filename');
  });

  it('shows the whole hex view at 1,280 px, its ASCII column not cut off', async () => {
    const text = Buffer.from(`The quick brown fox jumps over the lazy dog. ${'0123456789abcdef'.repeat(40)}`);
    await submitAndScan(service, text, 'fox.txt');
    await page.setViewportSize({ width: 1280, height: 800 });
    try {
      await page.goto(`${service.baseUrl}/samples/${sha256(text)}`);
      const hex = page.getByTestId('hex-view');
      await hex.waitFor();
      const overflow = await hex.evaluate(
        (el: { scrollWidth: number; clientWidth: number }) => el.scrollWidth - el.clientWidth,
      );
      assert.ok(overflow <= 0, `the hex view overflows by ${overflow} px`);
      assert.match(await hex.innerText(), /The quick brown \n/, "a row's 16 characters of ASCII");
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it('reaches the last byte with End when the size is no multiple of 16', async () => {
    const bytes = benign(8068);
    await submitAndScan(service, bytes, 'odd-size.bin');
    await page.goto(`${service.baseUrl}/samples/${sha256(bytes)}`);
    await page.getByTestId('hex-view').waitFor();
    await page.getByRole('button', { name: 'End', exact: true }).click();
    const hex = page.locator('[data-testid="hex-view"][data-start="7568"]');
    await hex.waitFor();
    // The last row, 0x1f80, holds the last 4 bytes; the label names the last offset shown.
    const last = hex.locator('[data-offset]').last();
    assert.equal(await last.getAttribute('data-offset'), String(0x1f80));
    assert.equal((await last.locator('.hex-ascii').innerText()).length, 4);
    assert.equal(await page.getByTestId('hex-window').innerText(), '0x00001d90 – 0x00001f83 of 7.9 KiB');
    assert.equal(await page.getByRole('button', { name: 'Next', exact: true }).isDisabled(), true);
    assert.equal(await page.getByRole('button', { name: 'End', exact: true }).isDisabled(), true);
  });

  it('keeps YARA text typed and left unsaved for this tab, until it is saved or discarded', async () => {
    await signIn(service.adminToken);
    await page.goto(`${service.baseUrl}/rules/new`);
    await page.getByTestId('ruleset-name').fill('draft-e2e');
    const editor = page.locator('[data-testid="yara-editor"] .cm-content');
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText('rule draft_kept { condition: true }');
    // Away by the navigation, back by the browser's Back: the text and the name are there.
    await page.getByRole('navigation', { name: 'Main' }).getByText('Samples').click();
    await page.getByRole('heading', { name: 'Samples', level: 2 }).waitFor();
    await page.goBack();
    await page.getByTestId('draft-restored').waitFor();
    assert.match(await editor.innerText(), /rule draft_kept/);
    assert.equal(await page.getByTestId('ruleset-name').inputValue(), 'draft-e2e');
    // A reload too; and the new retrohunt's editor keeps its own.
    await page.reload();
    await page.getByTestId('draft-restored').waitFor();
    assert.match(await editor.innerText(), /rule draft_kept/);
    await page.getByTestId('discard-draft').click();
    await page.getByTestId('draft-restored').waitFor({ state: 'detached' });
    assert.doesNotMatch(await editor.innerText(), /draft_kept/);
    assert.equal(await page.getByTestId('ruleset-name').inputValue(), '');
  });

  it('shows a compile error at its line, and activating the fixed rule changes the next verdict', async () => {
    const before = Buffer.concat([benign(300), Buffer.from(MARKER), benign(300)]);
    const first = await submitAndScan(service, before, 'marker-1.bin');
    assert.equal(first.verdict, 'clean');

    // Line 6 names a string the rule does not define.
    const broken = [
      'rule console_marker : e2e',
      '{',
      '  strings:',
      `    $m = "${MARKER}"`,
      '  condition:',
      '    $m and $undefined_string',
      '}',
      '',
    ].join('\n');
    await signIn(service.adminToken);
    await page.goto(`${service.baseUrl}/rules/new`);
    await page.getByTestId('ruleset-name').fill('console-e2e');
    const editor = page.locator('[data-testid="yara-editor"] .cm-content');
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(broken);
    assert.deepEqual(takeProblems(), []);
    await page.getByTestId('save-ruleset').click();
    const diagnostic = page.locator('[data-testid="diagnostic"][data-severity="error"]').first();
    await diagnostic.waitFor();
    // The refused compile (400) is the one failed call, and the page shows it instead of breaking.
    const refused = takeProblems();
    assert.equal(
      refused.filter((p) => p.startsWith('400 ') && p.endsWith('/v1/rulesets')).length,
      1,
      refused.join('\n'),
    );
    assert.ok(
      refused.every((p) => /\b400\b/.test(p)),
      refused.join('\n'),
    );
    const line = Number(await diagnostic.getAttribute('data-line'));
    assert.equal(line, 6, await diagnostic.innerText());
    // The editor marks that line: the lint range sits in the 6th line of the document.
    const marked = page
      .locator('[data-testid="yara-editor"] .cm-line')
      .nth(line - 1)
      .locator('.cm-lintRange-error');
    await marked.waitFor();
    await shot('07-rule-error');

    const fixed = [
      'rule console_marker : e2e',
      '{',
      '  meta:',
      '    score = 100',
      '    severity = "malicious"',
      '  strings:',
      `    $m = "${MARKER}"`,
      '  condition:',
      '    $m',
      '}',
      '',
    ].join('\n');
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(fixed);
    await page.getByTestId('save-ruleset').click();
    await page.getByTestId('ruleset-created').waitFor();
    assert.equal(await page.locator('[data-testid="diagnostic"][data-severity="error"]').count(), 0);
    await page.getByTestId('open-created').click();
    await page.getByTestId('activate').click();
    await page.getByTestId('retroscan').waitFor();
    // The dialog names the version it disables, and warns that it is another ruleset's.
    await page.getByTestId('activate-other-ruleset').waitFor();
    assert.match(
      await page.getByTestId('activate-replaces').innerText(),
      /default v1 \(\d+ rules\), active now, is disabled/,
    );
    await shot('08-activate-confirm');
    await page.getByTestId('confirm-activate').click();
    await page.getByText('active', { exact: true }).first().waitFor();
    await page.getByTestId('activate').waitFor({ state: 'detached' });
    await shot('09-ruleset-active');
    const rulesetPage = page.url();

    // The next scan uses the activated version: a new sample with the marker is malicious ...
    const after = Buffer.concat([benign(200), Buffer.from(MARKER), benign(200)]);
    const next = await pollUntil(
      async () => {
        const state = await submitAndScan(service, after, 'marker-2.bin');
        return state.verdict === 'malicious' ? state : undefined;
      },
      { timeoutMs: WAIT, what: 'a malicious verdict from the activated ruleset' },
    );
    assert.equal(next.verdict, 'malicious');
    // ... and the first one, rescanned from the console, turns malicious too.
    await page.goto(`${service.baseUrl}/samples/${sha256(before)}`);
    await page.getByTestId('tab-scans').click();
    const scans = page.getByTestId('scans').locator('tbody tr');
    await scans.first().waitFor();
    const scansBefore = await scans.count();
    await page.getByTestId('rescan').click();
    await page
      .locator('[data-testid="verdict"]', { hasText: 'malicious' })
      .first()
      .waitFor({ timeout: WAIT });
    await page.locator('[data-testid="match"][data-rule="console_marker"]').waitFor();
    // The open scan history shows the new scan without a reload.
    await pollUntil(async () => ((await scans.count()) > scansBefore ? true : undefined), {
      what: 'the new scan in the scan history',
    });
    assert.match(await scans.first().innerText(), /console_marker/);
    await shot('10-sample-rescanned');

    // Marked noisy on the active version, with the rescan the page offers: the samples it matched are
    // rescanned and no longer malicious; back to enabled, malicious again.
    const verdictOf = async (bytes: Buffer) =>
      ((await (await service.request(`/v1/samples/${sha256(bytes)}`)).json()) as SampleState).verdict;
    const setState = async (state: string) => {
      await page.goto(rulesetPage);
      assert.equal(await page.getByTestId('rule-rescan').isChecked(), true);
      await page.getByRole('combobox', { name: 'State of console_marker' }).click();
      await page.getByRole('option', { name: state, exact: true }).click();
      await page
        .getByText(/will be rescanned/)
        .first()
        .waitFor();
    };
    await setState('noisy');
    await page.locator('[data-testid="rule-changed"]', { hasText: 'by bootstrap-admin' }).waitFor();
    await shot('10b-rule-noisy-rescan');
    for (const verdict of ['clean', 'malicious']) {
      if (verdict === 'malicious') await setState('enabled');
      await pollUntil(
        async () =>
          (await verdictOf(before)) === verdict && (await verdictOf(after)) === verdict ? true : undefined,
        { timeoutMs: WAIT, what: `both marked samples ${verdict} after the rescan` },
      );
    }

    await page.goto(`${service.baseUrl}/rules`);
    await page.getByTestId('rulesets').waitFor();
    await shot('11-rules');
  });

  /** An enrolled, consenting agent of `country`; returns its API key. */
  async function consentingAgent(country: string): Promise<string> {
    const json = (body: unknown) => ({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const enrollment = (await (
      await service.request('/v1/enrollment-tokens', json({ ttlSeconds: 600, maxUses: 1 }))
    ).json()) as { token: string };
    const res = await service.request('/v1/agents/enroll', {
      ...json({
        enrollmentToken: enrollment.token,
        product: { name: 'console-test', version: '1.0' },
        os: { family: 'linux', version: '6.1' },
        country,
      }),
      token: null,
    });
    assert.equal(res.status, 201, await res.clone().text());
    const { apiKey } = (await res.json()) as { apiKey: string };
    const consent = await service.request('/v1/agents/me/consent', {
      ...json({ participating: true, statementVersion: '2026-01' }),
      method: 'PUT',
      token: apiKey,
    });
    assert.equal(consent.status, 200, await consent.clone().text());
    return apiKey;
  }

  it('shows the dashboard: queues, scanner health and the k-anonymous statistics', async () => {
    // Three agents (two in DE, one in FR) each send a sample that the active rule (console_marker) finds.
    let lastKey = '';
    for (const [i, country] of ['DE', 'DE', 'FR'].entries()) {
      const key = await consentingAgent(country);
      lastKey = key;
      const bytes = Buffer.concat([benign(100 + i), Buffer.from(MARKER)]);
      const res = await service.submit(bytes, fileMetadata(bytes), key);
      assert.equal(res.status, 201, await res.clone().text());
      await pollUntil(
        async () => {
          const s = (await (await service.request(`/v1/samples/${sha256(bytes)}`)).json()) as SampleState;
          return s.scanStatus === 'scanned' ? true : undefined;
        },
        { timeoutMs: WAIT, what: 'an agent sample scanned' },
      );
    }
    // The rules that only the admin's uploads matched are under k together (one submitter): the FR agent
    // sending the EICAR file too lifts EICAR_Test_File to two agents, so the (other) cell can reach k
    // without swallowing console_marker.
    const again = await service.submit(EICAR, fileMetadata(EICAR), lastKey);
    assert.equal(again.status, 200, await again.clone().text()); // a duplicate: a new sighting
    assert.equal((await service.request('/v1/admin/stats/rollup', { method: 'POST' })).status, 202);
    const overview = await pollUntil(
      async () => {
        const o = (await (await service.request('/v1/stats/overview')).json()) as {
          total: number;
          byCountry: { value: string; submissions: number }[];
          topRules: { value: string; submissions: number }[];
        };
        return o.byCountry.some((c) => c.value === 'DE') && o.topRules.length > 0 ? o : undefined;
      },
      { timeoutMs: WAIT, what: 'the statistics roll-up' },
    );

    await page.goto(`${service.baseUrl}/`);
    await page.waitForURL(/\/dashboard$/);
    const health = page.getByTestId('scanner-health');
    await health.waitFor();
    assert.match(await health.innerText(), /scanner up \(\d+ workers?\)/i);
    assert.match(await page.getByTestId('queues').innerText(), /scan/);
    await page.getByTestId('total').waitFor();
    assert.equal(
      await page.getByTestId('total').innerText(),
      String(overview.total),
      JSON.stringify(overview),
    );
    // DE has two agents and is named; FR has one (under k) and is only counted in (other), with the
    // submissions that carry no country.
    const countries = await page.getByTestId('countries').innerText();
    assert.match(countries, /DE\s+2/);
    const other = overview.byCountry.find((c) => c.value === '(other)');
    assert.ok(other !== undefined && other.submissions >= 1, JSON.stringify(overview.byCountry));
    assert.match(countries, new RegExp(`\\(other\\)\\s+${other.submissions}`));
    assert.doesNotMatch(countries, /FR/);
    assert.match(await page.getByTestId('top-rules').innerText(), /console_marker\s+\d+/);
    // The charts draw bars for the published day.
    await page.locator('.recharts-bar-rectangle').first().waitFor();
    await shot('13-dashboard');

    // The EICAR file's sightings name the FR agent's country and product, never its id.
    await page.goto(`${service.baseUrl}/samples/${sha256(EICAR)}`);
    await page.getByTestId('tab-sightings').click();
    const sightings = page.getByTestId('sightings');
    await sightings.waitFor();
    const text = await sightings.innerText();
    assert.match(text, /Country/);
    assert.match(text, /\bFR\b/);
    assert.match(text, /console-test 1\.0/);
  });

  it('starts a retrohunt, follows it to its matches, and cancels another', async () => {
    await page.goto(`${service.baseUrl}/retrohunts`);
    const editor = page.locator('[data-testid="yara-editor"] .cm-content');

    // With the scanner stopped the hunt stays queued, so cancelling it is certain to be in time.
    await service.stopScanner();
    try {
      await editor.click();
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Delete');
      await page.keyboard.insertText('rule never_runs { condition: false }');
      await page.getByTestId('start-retrohunt').click();
      await page.waitForURL(/\/retrohunts\/[0-9a-f-]{36}$/);
      assert.equal(await page.getByTestId('retrohunt-status').innerText(), 'QUEUED');
      await page.getByTestId('cancel-retrohunt').click();
      await page.getByTestId('confirm-cancel').click();
      await page.locator('[data-testid="retrohunt-status"]', { hasText: 'cancelled' }).waitFor();
    } finally {
      service.startScanner();
    }

    await page.goto(`${service.baseUrl}/retrohunts`);
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(
      'rule hunt_eicar { strings: $e = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" condition: $e }',
    );
    await page.getByTestId('start-retrohunt').click();
    await page.waitForURL(/\/retrohunts\/[0-9a-f-]{36}$/);
    // The page follows the hunt live until it is done.
    await page.locator('[data-testid="retrohunt-status"]', { hasText: 'done' }).waitFor({ timeout: WAIT });
    const matches = page.getByTestId('retrohunt-matches');
    await matches.waitFor();
    const text = await matches.innerText();
    assert.ok(text.includes(sha256(EICAR).slice(0, 16)), text);
    assert.ok(text.includes('hunt_eicar'));
    // The rule text read with the first load stays shown: the progress polls leave it out.
    const rules = await page.locator('.cm-content').first().innerText();
    assert.ok(rules.includes('rule hunt_eicar'), rules);
    await shot('14-retrohunt');
    await matches.getByRole('link', { name: new RegExp(sha256(EICAR).slice(0, 16)) }).click();
    await page.waitForURL(new RegExp(`/samples/${sha256(EICAR)}$`));
    await page.getByTestId('hex-view').waitFor();

    await page.goto(`${service.baseUrl}/retrohunts`);
    await page.getByTestId('retrohunts').waitFor();
    const listed = (await page.getByTestId('retrohunts').innerText()).toLowerCase();
    assert.ok(listed.includes('cancelled') && listed.includes('done'), listed);
    await shot('15-retrohunts');
  });

  it('administers agents, tokens and the audit log', async () => {
    // An enrolled agent to list and revoke.
    const enrollment = (await (
      await service.request('/v1/enrollment-tokens', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ttlSeconds: 600, maxUses: 1 }),
      })
    ).json()) as { token: string };
    const enrolled = await service.request('/v1/agents/enroll', {
      method: 'POST',
      token: null,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        enrollmentToken: enrollment.token,
        product: { name: 'console-test', version: '1.0' },
        os: { family: 'linux', version: '6.1' },
      }),
    });
    assert.equal(enrolled.status, 201, await enrolled.clone().text());
    const agent = (await enrolled.json()) as { agentId: string; apiKey: string };

    await page.goto(`${service.baseUrl}/admin`);
    const row = page.locator(`[data-testid="agent-row"][data-id="${agent.agentId}"]`);
    await row.waitFor();
    // The pseudonym sightings name the agent by, so an analyst can tell whose they are.
    const listed = (await (await service.request('/v1/agents?limit=100')).json()) as {
      items: Array<{ id: string; pseudonym: string }>;
    };
    const pseudonym = listed.items.find((a) => a.id === agent.agentId)?.pseudonym ?? '';
    assert.match(pseudonym, /^[0-9a-f]{64}$/);
    assert.equal(await row.getByTestId('agent-pseudonym').innerText(), `${pseudonym.slice(0, 16)}…`);
    await shot('16-admin-agents');
    await row.getByTestId('revoke-agent').click();
    await page.getByTestId('confirm-revoke').click();
    await row.getByText(/revoked/i).waitFor();
    const refused = await service.request('/v1/lookups', {
      method: 'POST',
      token: agent.apiKey,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ sha256: sha256(EICAR) }] }),
    });
    assert.equal(refused.status, 401, 'the revoked agent key no longer works');

    // An API token made in the console works at once.
    await page.getByTestId('tab-tokens').click();
    await page.getByTestId('token-name').fill('made-in-console');
    await page.getByTestId('create-token').click();
    const secret = page.getByTestId('new-secret');
    await secret.waitFor();
    const token = (await secret.locator('p').first().innerText()).trim();
    const me = await service.request('/v1/me', { token });
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { name: string; role: string }).name, 'made-in-console');
    // It is listed, and revoked from the list it stops working at once.
    const tokenRow = page.locator('[data-testid="api-token-row"][data-name="made-in-console"]');
    await tokenRow.waitFor();
    await shot('17-admin-tokens');
    await tokenRow.getByTestId('revoke-token').click();
    await page.getByTestId('confirm-revoke-token').click();
    await tokenRow.getByText(/revoked/i).waitFor();
    assert.equal((await service.request('/v1/me', { token })).status, 401, 'the revoked token is refused');

    // An enrollment token made in the console is listed with its uses and revoked from the list.
    await page.getByTestId('enrollment-token-name').fill('console-fleet');
    await page.getByTestId('create-enrollment-token').click();
    const enrollSecret = page.getByTestId('new-secret').filter({ hasText: 'enrollment token: shown once' });
    await enrollSecret.waitFor();
    const enrollToken = (await enrollSecret.locator('p').first().innerText()).trim();
    const fleetRow = page.locator('[data-testid="enrollment-token-row"]', { hasText: 'console-fleet' });
    await fleetRow.waitFor();
    assert.match(await fleetRow.innerText(), /0 of 100/);
    await fleetRow.getByTestId('revoke-enrollment-token').click();
    await page.getByTestId('confirm-revoke-enrollment-token').click();
    await fleetRow.getByText(/revoked/i).waitFor();
    // A used-up token (the dashboard test's, one use each) offers no revocation: it enrolls no one already.
    const usedUp = page.locator('[data-testid="enrollment-token-row"]', { hasText: '1 of 1' }).first();
    assert.match(await usedUp.getByTestId('enrollment-token-ended').innerText(), /used up/i);
    assert.equal(await usedUp.getByTestId('revoke-enrollment-token').count(), 0);
    const late = await service.request('/v1/agents/enroll', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        enrollmentToken: enrollToken,
        product: { name: 'console-test', version: '1.0' },
        os: { family: 'linux', version: '6.1' },
      }),
    });
    assert.equal(late.status, 401, 'the revoked enrollment token enrolls no one');

    await page.getByTestId('tab-audit').click();
    const audit = page.getByTestId('audit');
    await audit.waitFor();
    const log = await audit.innerText();
    for (const action of [
      'agent.revoke',
      'token.create',
      'token.revoke',
      'ruleset.activate',
      'sample.download',
    ]) {
      assert.ok(log.includes(action), `${action} in the audit log`);
    }
    await shot('18-admin-audit');
    // A filter is kept in the URL: the filtered view survives a reload.
    await page.getByLabel('Action').fill('token.revoke');
    await page.getByTestId('audit-search').click();
    await page.waitForURL(/[?&]action=token\.revoke/);
    await page.reload();
    await audit.waitFor();
    assert.equal(await page.getByLabel('Action').inputValue(), 'token.revoke');
    const filtered = await audit.innerText();
    assert.ok(filtered.includes('token.revoke'));
    assert.ok(!filtered.includes('ruleset.activate'), 'only the filtered action after the reload');
    // Back to the unfiltered log: the input follows the URL, and so does the list.
    await page.goBack();
    await page.waitForURL((url) => !url.searchParams.has('action'));
    await pollUntil(async () => ((await page.getByLabel('Action').inputValue()) === '' ? true : undefined), {
      what: 'the Action input to follow Back',
    });
    await audit.getByText('ruleset.activate').first().waitFor();
    await page.goForward();
    await pollUntil(
      async () => ((await page.getByLabel('Action').inputValue()) === 'token.revoke' ? true : undefined),
      { what: 'the Action input to follow Forward' },
    );
  });

  /**
   * What is wrong with the layout of the page shown: sideways overflow, something hanging below the header,
   * cut badges (run in the page, so as a script: the tests compile without the DOM's types).
   */
  const layoutProblems = (): Promise<string[]> =>
    page.evaluate<string[]>(`(() => {
      const found = [];
      const doc = document.documentElement;
      if (doc.scrollWidth > innerWidth) found.push('the page is ' + doc.scrollWidth + ' px wide in ' + innerWidth);
      const header = document.querySelector('header');
      if (header !== null) {
        const bar = header.getBoundingClientRect();
        for (const el of header.querySelectorAll('*')) {
          const box = el.getBoundingClientRect();
          if (box.width > 0 && box.bottom > bar.bottom + 0.5) found.push('below the header: ' + el.textContent);
        }
      }
      for (const el of document.querySelectorAll('.mantine-Badge-label, .mantine-Badge-root')) {
        if (el.scrollWidth > el.clientWidth + 1) found.push('a cut badge: ' + el.textContent);
      }
      return found;
    })()`);

  it('fits a phone (390 px) and a desktop: no sideways scrolling, a one-line header, whole badges; titles', async () => {
    const pages: Array<[string, string, string, RegExp]> = [
      ['dashboard', '/dashboard', 'queues', /^Dashboard — Specimen$/],
      ['samples', '/samples', 'samples-table', /^Samples — Specimen$/],
      ['sample', `/samples/${sha256(EICAR)}`, 'hex-view', /^Sample 275a021bbfb6… — Specimen$/],
      ['rules', '/rules', 'rulesets', /^Rules — Specimen$/],
      ['retrohunts', '/retrohunts', 'retrohunts', /^Retrohunts — Specimen$/],
      ['agents', '/admin', 'agents', /^Admin — Specimen$/],
      ['tokens', '/admin?tab=tokens', 'api-tokens', /^Admin — Specimen$/],
      ['audit', '/admin?tab=audit', 'audit', /^Admin — Specimen$/],
    ];
    try {
      for (const width of [390, 1400]) {
        await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
        for (const [name, path, testId, title] of pages) {
          await page.goto(`${service.baseUrl}${path}`);
          await page.getByTestId(testId).waitFor();
          assert.match(await page.title(), title);
          const tabs = name === 'sample' ? (['tab-sightings', 'tab-scans'] as const) : [];
          assert.deepEqual(await layoutProblems(), [], `${name} at ${width} px`);
          for (const tab of tabs) {
            await page.getByTestId(tab).click();
            await page.getByTestId(tab === 'tab-sightings' ? 'sightings' : 'scans').waitFor();
            assert.deepEqual(await layoutProblems(), [], `${name} (${tab}) at ${width} px`);
          }
          if (width === 390) await shot(`21-narrow-${name}`);
        }
      }
      // On a phone the navigation is a drawer: choosing a page closes it.
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${service.baseUrl}/samples`);
      await page.getByTestId('samples-table').waitFor();
      const navbar = page.getByRole('navigation', { name: 'Main' });
      const offScreen = async () => {
        const box = await navbar.boundingBox();
        return box === null || box.x + box.width <= 0;
      };
      assert.equal(await offScreen(), true, 'the drawer starts closed');
      await page.getByRole('button', { name: 'Navigation' }).click();
      await pollUntil(async () => ((await offScreen()) ? undefined : true), { what: 'the drawer to open' });
      await shot('22-narrow-drawer');
      await navbar.getByText('Rules').click();
      await page.getByTestId('rulesets').waitFor();
      await pollUntil(async () => ((await offScreen()) ? true : undefined), {
        what: 'the drawer to close after choosing a page',
      });
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it('pages through the samples and steps back to the right page after a reload', async () => {
    // Enough samples for three pages of 50, whatever the tests before left.
    for (let i = 0; i < 105; i += 15) {
      await Promise.all(
        Array.from({ length: 15 }, async (_, j) => {
          const bytes = benign(700 + i + j);
          const res = await service.submit(bytes, fileMetadata(bytes), service.adminToken);
          assert.ok(res.status === 201 || res.status === 200, String(res.status));
        }),
      );
    }
    await page.goto(`${service.baseUrl}/samples`);
    const rows = page.getByTestId('sample-row');
    const firstRow = async (): Promise<string | null> => {
      await pollUntil(async () => ((await rows.count()) > 0 ? true : undefined), { what: 'rows' });
      return rows.first().getAttribute('data-sha256');
    };
    /** Clicks and waits for the table to show another first row. */
    const turn = async (button: 'page-next' | 'page-previous'): Promise<string | null> => {
      const was = await firstRow();
      await page.getByTestId(button).click();
      return pollUntil(
        async () => {
          const now = await firstRow();
          return now !== was ? now : undefined;
        },
        { what: `${button} to show another page` },
      );
    };
    const one = await firstRow();
    assert.equal(await rows.count(), 50);
    assert.equal(await page.getByTestId('page-previous').isDisabled(), true);
    // A double click on Next turns one page, and one Previous comes back from it.
    await page.getByTestId('page-next').dblclick();
    const two = await pollUntil(
      async () => {
        const now = await firstRow();
        return now !== one ? now : undefined;
      },
      { what: 'the double click to turn a page' },
    );
    // One history entry: the browser's Back returns to page 1 in one step.
    await page.goBack();
    await pollUntil(async () => ((await firstRow()) === one ? true : undefined), { what: 'Back to page 1' });
    await page.goForward();
    await pollUntil(async () => ((await firstRow()) === two ? true : undefined), {
      what: 'Forward to page 2',
    });
    assert.equal(await turn('page-previous'), one);
    assert.equal(await turn('page-next'), two);
    await turn('page-next');
    await page.reload();
    await firstRow();
    // The cursors of the pages before survive the reload: Previous goes to page 2, not back to page 1.
    assert.equal(await turn('page-previous'), two);
    assert.equal(await turn('page-previous'), one);
    assert.equal(await page.getByTestId('page-previous').isDisabled(), true);
  });

  it('switches to the dark theme', async () => {
    await page.goto(`${service.baseUrl}/samples`);
    await page.getByTestId('samples-table').waitFor();
    const before = await page.locator('html').getAttribute('data-mantine-color-scheme');
    await page.getByTestId('theme-toggle').click();
    const after = await page.locator('html').getAttribute('data-mantine-color-scheme');
    assert.notEqual(after, before);
    if (after !== 'dark') await page.getByTestId('theme-toggle').click();
    assert.equal(await page.locator('html').getAttribute('data-mantine-color-scheme'), 'dark');
    await shot('19-samples-dark');
    await page.goto(`${service.baseUrl}/samples/${sha256(EICAR)}`);
    await page.getByTestId('hex-view').waitFor();
    await shot('20-sample-dark');
  });

  it('met no script error, CSP violation or failed call in the whole run', () => {
    assert.deepEqual(takeProblems(), []);
  });
});
