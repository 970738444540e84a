/** Bytes as a person reads them: 68 B, 4.0 KiB, 1.5 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** An ISO time as `2026-01-01 12:00:00Z` (UTC, so analysts in different places see the same text). */
export function formatTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** `0x00001f40` style offsets for the hex view and match lists. */
export const hexOffset = (n: number, width = 8): string => `0x${n.toString(16).padStart(width, '0')}`;

/** Start of the preview window that shows `offset`: aligned to 16 and a few rows before it. */
export function windowStart(offset: number, rowsBefore = 4): number {
  const aligned = offset - (offset % 16);
  return Math.max(0, aligned - rowsBefore * 16);
}

/**
 * Start of the last window of `length` bytes over a sample of `size`: aligned to 16 like every window,
 * and ending at or past the last byte (rounding the start down instead left a size % 16 tail unseen).
 */
export function lastWindowStart(size: number, length: number): number {
  return Math.max(0, Math.ceil(size / 16) * 16 - length);
}

/** The bytes a window shows, first and last offset both included: `0x00001d90 – 0x00001f83 of 7.9 KiB`. */
export function windowLabel(start: number, length: number, size: number): string {
  if (size === 0) return 'empty sample';
  const last = Math.min(size, start + length) - 1;
  return `${hexOffset(start)} – ${hexOffset(last)} of ${formatBytes(size)}`;
}

/** `1 rule`, `2 rules`: a count with its noun (English plurals in -s only). */
export const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

/**
 * An offset as an analyst types it: `0x1f40` (hex, any case) or `8000` (decimal), within a sample of
 * `size` bytes; null for anything else or past the end.
 */
export function parseOffset(text: string, size: number): number | null {
  const t = text.trim();
  const n = /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t.slice(2), 16) : /^\d+$/.test(t) ? Number(t) : NaN;
  return Number.isSafeInteger(n) && n >= 0 && n < size ? n : null;
}

/**
 * Why an enrollment token enrolls no one any more (revoked first, then expired, then used up), or null
 * while it still can.
 */
export function enrollmentTokenEnd(
  token: { revokedAt: string | null; expiresAt: string; uses: number; maxUses: number },
  now = Date.now(),
): 'revoked' | 'expired' | 'used up' | null {
  if (token.revokedAt !== null) return 'revoked';
  if (Date.parse(token.expiresAt) <= now) return 'expired';
  if (token.uses >= token.maxUses) return 'used up';
  return null;
}
