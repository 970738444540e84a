import { SpecimenError, UUID } from '#contracts';

// A leading dot is refused so that `.`, `..` and the fs driver's own `.tmp` can never be named.
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const PARTIAL_SEGMENT = /^(?:[A-Za-z0-9_][A-Za-z0-9._-]*)?$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const MAX_KEY_LENGTH = 1024;
const MAX_SEGMENT_LENGTH = 255;

function invalid(what: string, value: string, reason: string): SpecimenError {
  return new SpecimenError('VALIDATION_FAILED', `Invalid storage ${what}: ${reason}`, {
    [what]: value.slice(0, 200),
  });
}

/** Returns `key` if it is a valid object key, else throws SpecimenError VALIDATION_FAILED. */
export function assertValidKey(key: string): string {
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) throw invalid('key', key, 'length');
  for (const segment of key.split('/')) {
    if (segment.length > MAX_SEGMENT_LENGTH || !SEGMENT.test(segment)) {
      throw invalid('key', key, 'segments must match [A-Za-z0-9_][A-Za-z0-9._-]*');
    }
  }
  return key;
}

/** Like {@link assertValidKey}, but the empty string and a partial or empty last segment are allowed. */
export function assertValidPrefix(prefix: string): string {
  if (prefix.length > MAX_KEY_LENGTH) throw invalid('prefix', prefix, 'length');
  const segments = prefix.split('/');
  const last = segments.pop() ?? '';
  if (!PARTIAL_SEGMENT.test(last) || segments.some((s) => !SEGMENT.test(s))) {
    throw invalid('prefix', prefix, 'segments must match [A-Za-z0-9_][A-Za-z0-9._-]*');
  }
  return prefix;
}

/** The content-addressed key of a sample: `samples/ab/cd/<sha256>` (lowercase hex). */
export function sampleKey(sha256: string): string {
  if (!SHA256_HEX.test(sha256)) throw invalid('sha256', sha256, 'expected 64 lowercase hex digits');
  return `samples/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;
}

/** `id` when it is one key segment; VALIDATION_FAILED otherwise. */
function segment(id: string): string {
  if (id.length > MAX_SEGMENT_LENGTH || !SEGMENT.test(id)) throw invalid('id', id, 'must be one key segment');
  return id;
}

/** The key of a temporary upload, before it is promoted to its {@link sampleKey}. */
export function incomingKey(id: string): string {
  return `incoming/${segment(id)}`;
}

/** The folder of every resumable upload's {@link uploadPrefix} (a prefix for {@link ObjectStore.list}). */
export const UPLOADS_PREFIX = 'uploads/';

/** The folder of one resumable upload's parts: `uploads/<id>/` (a prefix for {@link ObjectStore.list}). */
export function uploadPrefix(id: string): string {
  return `${UPLOADS_PREFIX}${segment(id)}/`;
}

/**
 * The upload whose folder holds `key` (or `key` names: `uploads/<id>/`), or null when it is no such key.
 * Upload ids are lowercase UUIDs (the database's text for them), so a folder in other case is no upload's.
 */
export function uploadOfKey(key: string): string | null {
  if (!key.startsWith(UPLOADS_PREFIX)) return null;
  const id = key.slice(UPLOADS_PREFIX.length, UPLOADS_PREFIX.length + 36);
  return UUID.test(id) && id === id.toLowerCase() && key[UPLOADS_PREFIX.length + 36] === '/' ? id : null;
}

/**
 * The key of one part of a resumable upload: its start offset (zero-padded, so keys sort by offset) and a
 * nonce, so two requests racing for the same offset never write the same object.
 */
export function uploadPartKey(id: string, offset: number, nonce: string): string {
  if (!Number.isSafeInteger(offset) || offset < 0) throw invalid('offset', String(offset), 'not an offset');
  return assertValidKey(`${uploadPrefix(id)}${String(offset).padStart(16, '0')}-${nonce}`);
}

/** The folder of every retrohunt's {@link retrohuntRulesKey} (a prefix for {@link ObjectStore.list}). */
export const RETROHUNT_RULES_PREFIX = 'retrohunt-rules/';

/**
 * Where the API leaves a retrohunt's compiled rules for the scanner (`retrohunt-rules/<id>-<tag>`), so
 * that the scanner loads them instead of compiling the text again; `tag` names what they were compiled
 * with (libyara version, options), so a scanner that differs compiles instead.
 */
export function retrohuntRulesKey(id: string, tag: string): string {
  // One folder for all: the fs driver keeps emptied folders, and a folder per retrohunt would pile up.
  return assertValidKey(`${retrohuntRulesPrefix(id)}${tag}`);
}

/**
 * The prefix of one retrohunt's compiled rules under any tag: `retrohunt-rules/<id>-`. Retrohunt ids are
 * UUIDs, all of one length, so one retrohunt's prefix never covers another's keys.
 */
export function retrohuntRulesPrefix(id: string): string {
  return `${RETROHUNT_RULES_PREFIX}${segment(id)}-`;
}

/** The retrohunt (a UUID, lowercase) whose compiled rules `key` holds, or null when it is no such key. */
export function retrohuntOfRulesKey(key: string): string | null {
  if (!key.startsWith(RETROHUNT_RULES_PREFIX)) return null;
  const name = key.slice(RETROHUNT_RULES_PREFIX.length);
  const id = name.slice(0, 36);
  return UUID.test(id) && name[36] === '-' && name.length > 37 ? id.toLowerCase() : null;
}
