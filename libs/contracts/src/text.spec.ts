import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EnrollRequest, ConsentRequest } from './agents.schema.js';
import { SearchSamplesQuery } from './analyst.schema.js';
import { CreateTokenRequest } from './auth.schema.js';
import { SubmissionMetadata } from './submission.schema.js';

const enroll = {
  enrollmentToken: 'spe_x',
  product: { name: 'agent', version: '1.0' },
  os: { family: 'linux', version: '6.1' },
};
const file = { kind: 'file', sha256: 'a'.repeat(64), size: 1 };

describe('text inputs', () => {
  it('free text takes any character PostgreSQL stores, and no NUL or unpaired surrogate', () => {
    for (const filename of ['malware.exe', 'ℕ𝕆 𝕡𝕒𝕥𝕙 🦠.bin', 'tab\there', 'bell\u0007']) {
      assert.equal(SubmissionMetadata.safeParse({ ...file, filename }).success, true, filename);
    }
    for (const filename of ['a\u0000b', 'a\ud800b', 'a\udc00', '\ud83d']) {
      const parsed = SubmissionMetadata.safeParse({ ...file, filename });
      assert.equal(parsed.success, false, JSON.stringify(filename));
      assert.match(parsed.error?.issues[0]?.message ?? '', /NUL|surrogate/);
    }
    const memory = {
      kind: 'memory-region',
      sha256: 'a'.repeat(64),
      size: 1,
      process: { pid: 1, image: 'C:\\x.exe', commandLine: 'x\u0000' },
      baseAddress: '0x1000',
      regionSize: 4096,
      protection: 'RWX',
    };
    assert.equal(SubmissionMetadata.safeParse(memory).success, false);
    const clean = { ...memory, process: { ...memory.process, commandLine: 'x --y' } };
    assert.equal(SubmissionMetadata.safeParse(clean).success, true);
    assert.equal(SearchSamplesQuery.safeParse({ rule: 'Rule\u0000' }).success, false);
    assert.equal(SearchSamplesQuery.safeParse({ tag: 'fam\ud800' }).success, false);
    assert.equal(SearchSamplesQuery.safeParse({ rule: 'Ransom_Ü' }).success, true);
  });

  it('labels are printable: no control character, trimmed', () => {
    assert.equal(
      EnrollRequest.parse({ ...enroll, product: { name: ' Acme Agent ', version: '9' } }).product.name,
      'Acme Agent',
    );
    for (const name of ['Acme\u001fAgent', 'Acme\u0000', 'Acme\nAgent', 'Acme\u009b31m', 'Acme\ud800']) {
      assert.equal(
        EnrollRequest.safeParse({ ...enroll, product: { name, version: '1' } }).success,
        false,
        JSON.stringify(name),
      );
    }
    assert.equal(
      EnrollRequest.safeParse({ ...enroll, os: { family: 'linux', version: '6.1\u001f' } }).success,
      false,
    );
    assert.equal(
      ConsentRequest.safeParse({ participating: true, statementVersion: '2026\u0000' }).success,
      false,
    );
    assert.equal(CreateTokenRequest.safeParse({ name: 'x\u0000y', role: 'agent' }).success, false);
    assert.equal(CreateTokenRequest.safeParse({ name: 'Ана Мария', role: 'analyst' }).success, true);
  });
});
