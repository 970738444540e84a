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
  ['HOSTNAME=laptop-42 ./x', 'HOSTNAME=<user> ./x'],
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
