/** What bench/harness/broker-child.ts prints before its JSON, so a broker's own output is not mistaken for it. */
export const READY_PREFIX = 'RUNNEL_BENCH_READY ';
