import type { PreviewRow } from '#contracts';

export interface HexCell {
  offset: number;
  hex: string;
  ascii: string;
  hit: boolean;
}

/**
 * One preview row split into its bytes, each marked when it falls in [hitStart, hitStart + hitLength):
 * the bytes of the selected match are highlighted, nothing else is computed from the sample.
 */
export function rowCells(row: PreviewRow, hitStart: number | null, hitLength: number): HexCell[] {
  const bytes = row.hex.split(' ').filter((b) => b !== '');
  return bytes.map((hex, i) => {
    const offset = row.offset + i;
    return {
      offset,
      hex,
      ascii: row.ascii[i] ?? '.',
      hit: hitStart !== null && offset >= hitStart && offset < hitStart + Math.max(1, hitLength),
    };
  });
}
