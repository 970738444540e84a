/**
 * Scrubbing of agent metadata at ingest: every string of the metadata document goes through the rules
 * below, in order, before it is stored. The rules are data: add a row to cover a new identifier.
 */
export interface ScrubRule {
  /** What the rule removes, for the privacy documentation and test names. */
  name: string;
  pattern: RegExp;
  replace: string;
}

export const USER = '<user>';
export const HOST = '<host>';

// Path separators of both worlds; a user name runs up to the next separator.
const SEP = String.raw`[\\/]`;
const NAME = String.raw`[^\\/:*?"<>|\r\n]+`;
// A DNS label (at most 63 characters), and an IPv4 octet (0-255).
const LABEL = String.raw`[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?`;
const OCTET = String.raw`(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)`;

// Every run of characters a rule may try to start a match in is bounded as the standards bound it (a local
// part of 64, labels of 63, at most 127 labels), or the match must start where the run starts: an unbounded
// run tried from each of its positions made a rule's time grow with the square of a string's length (16,384
// characters of `a.` took 130–220 ms a rule, and an agent sends many strings a request).
export const SCRUB_RULES: readonly ScrubRule[] = [
  {
    name: 'e-mail address',
    pattern: /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,125}\.[A-Za-z]{2,63}/g,
    replace: '<email>',
  },
  {
    name: 'Windows SID',
    pattern: /\bS-1-5-21(?:-\d+){1,4}\b/gi,
    replace: '<sid>',
  },
  {
    name: 'UNC host name (\\\\host\\share)',
    // Where a path starts (the text's start, after a space, a quote, =, a bracket, a comma or a semicolon):
    // C:\\Users\\alice\\… is a path whose separators were escaped (copied from JSON or a log), not a UNC name.
    pattern: /(^|[\s"'=([,;])\\\\(?![?.]\\)[^\\/\s]+(?=\\)/g,
    replace: `$1\\\\${HOST}`,
  },
  {
    name: 'host of a long UNC path (\\\\?\\UNC\\host\\share)',
    pattern: /\\\\\?\\UNC\\(?!<host>)[^\\/\s]+/gi,
    replace: `\\\\?\\UNC\\${HOST}`,
  },
  {
    name: 'host of a file: URL (file://host/…; file:///… names none)',
    pattern: /\b(file:\/\/)(?!<host>)[^/\s"'<>]+(?=\/)/gi,
    replace: `$1${HOST}`,
  },
  {
    name: 'host name in a private DNS zone (.local, .lan, .internal, .corp, .localdomain, .intranet, .home.arpa)',
    pattern: new RegExp(
      String.raw`\b${LABEL}(?:\.${LABEL}){0,125}\.(?:local|lan|internal|corp|localdomain|intranet|home\.arpa)\b`,
      'gi',
    ),
    replace: HOST,
  },
  {
    name: 'private IPv4 address (10/8, 172.16/12, 192.168/16, 169.254/16, 100.64/10; a public one, a server, stays)',
    pattern: new RegExp(
      String.raw`(?<![\d.])(?:10(?:\.${OCTET}){3}|172\.(?:1[6-9]|2\d|3[01])(?:\.${OCTET}){2}|192\.168(?:\.${OCTET}){2}|169\.254(?:\.${OCTET}){2}|100\.(?:6[4-9]|[7-9]\d|1[01]\d|12[0-7])(?:\.${OCTET}){2})(?![\d.]*\d)`,
      'g',
    ),
    replace: '<ip>',
  },
  {
    name: 'Windows profile (C:\\Users\\<name>, C:\\Documents and Settings\\<name>)',
    // Separators may be doubled (escaped): C:\\Users\\<name>. A match starts where its separators start (a
    // name never holds one, so the previous match never ends inside such a run).
    pattern: new RegExp(
      String.raw`(?<![\\/])(${SEP}+(?:Users|Documents and Settings)${SEP}+)(?!${USER})${NAME}`,
      'gi',
    ),
    replace: `$1${USER}`,
  },
  {
    name: 'Unix home (/home/<name>, /Users/<name>)',
    pattern: new RegExp(String.raw`(/(?:home|Users)/)(?!${USER})${NAME}`, 'g'),
    replace: `$1${USER}`,
  },
  {
    name: 'profile variables that name the user (%USERNAME%=…, USER=…)',
    pattern: /\b((?:USERNAME|USER|LOGNAME)=)[^\s;"']+/gi,
    replace: `$1${USER}`,
  },
  {
    name: 'variables that name the machine or its domain (COMPUTERNAME=…, HOSTNAME=…, USERDOMAIN=…)',
    pattern: /\b((?:USERDOMAIN|COMPUTERNAME|HOSTNAME)=)[^\s;"']+/gi,
    replace: `$1${HOST}`,
  },
];

/** One string through every rule. */
export function scrubString(value: string): string {
  let out = value;
  for (const rule of SCRUB_RULES) out = out.replace(rule.pattern, rule.replace);
  return out;
}

/**
 * What a submission's metadata says beyond its checksums and size (which the bytes are checked against, and
 * which the sample row keeps), scrubbed: what both ingest paths store.
 */
export function scrubbedContext<M extends { sha256: string; md5?: string; sha1?: string; size: number }>(
  metadata: M,
): Omit<M, 'sha256' | 'md5' | 'sha1' | 'size'> {
  const { sha256: _s, md5: _m, sha1: _h, size: _z, ...context } = metadata;
  return scrubDocument(context);
}

/** Every string of a JSON document (keys and values, any depth) scrubbed; other values unchanged. */
export function scrubDocument<T>(value: T): T {
  return scrubValue(value) as T;
}

function scrubValue(value: unknown): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (Array.isArray(value)) return value.map(scrubValue);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [scrubString(k), scrubValue(v)]));
  }
  return value;
}
