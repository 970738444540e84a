/**
 * `text` safe to show on a terminal, one line: control characters (an escape sequence, a newline) and
 * format characters (a right-to-left override) of a file name or a message shown as `\u{…}`. Names come from
 * the inspected machine, where a file may be named to clear the screen, colour text or forge a result line.
 * `--json` output needs none of this: JSON escapes them.
 */
export const printable = (text: string): string =>
  text.replace(/[\p{Cc}\p{Cf}]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
