/**
 * Inputs shared by the capture tool and the golden tests that check the captures:
 * the large scenarios' records are generated, not listed in capture.json.
 */

/** 1000-byte values, compressible but not trivially so, different per record. */
export function largeValue(i: number): string {
  let s = '';
  let n = 0;
  while (s.length < 1000) {
    s += `record ${i} word ${n} ${(n * 7919 + i * 104729) % 1000003} `;
    n++;
  }
  return s.slice(0, 1000);
}

/** How a generated scenario's records are described in capture.json. */
export interface GeneratedRecords {
  count: number;
  /** Record i has key `${keyPrefix}${i}` and value largeValue(i). */
  keyPrefix: string;
  headers: [string, string | null][];
  /** When set, record i has timestamp baseTimestamp + i. */
  baseTimestamp?: number;
}

export function generateRecords(g: GeneratedRecords) {
  return Array.from({ length: g.count }, (_, i) => ({
    key: `${g.keyPrefix}${i}`,
    value: largeValue(i),
    headers: g.headers,
    ...(g.baseTimestamp === undefined ? {} : { timestamp: g.baseTimestamp + i }),
  }));
}
