/**
 * V8's heap growth for the broker's process (`runnel start`): the old generation may grow
 * to four times what a full collection left alive before the next one starts
 * (--heap-growing-percent=300), so that network buffers do not drive back-to-back full
 * collections.
 *
 * Why: V8 (Node 20) counts the memory of Buffers allocated since the last full collection
 * (ArrayBuffer backing stores: every socket read, every frame assembled from several
 * reads, every encoded answer) against the old generation's limit, and it sets that limit
 * from the live heap, about 10 MB in a broker, with a growing factor that it lowers when
 * collections seem costly: 16-23 MB of Buffers were then enough to start a full
 * collection. At 50 MB/s of produce and fetch the broker allocates about 100 MB/s of them
 * (they die young: a young collection frees them, but it runs only when the young
 * generation fills). When the young generation had grown large, full collections ran
 * back to back, 4 to 10 a second, each marking the whole heap and throwing away optimized
 * code (deoptimizations for "weak objects", then recompiling). With the factor fixed at 4
 * (the largest V8 picks by itself) the limit stays 30 MB or more above a small live heap;
 * young collections free the Buffers long before it (docs/performance.md has the figures).
 *
 * The flag is one V8 reads at every full collection, so setting it at run time works;
 * V8's flags that size the heap up front (--initial-old-space-size, --min-semi-space-size)
 * would have to be on node's command line (NODE_OPTIONS refuses them) and cannot change
 * once the heap exists. Memory: the heap may hold up to four times its live objects
 * before a full collection, within node's usual bound (--max-old-space-size).
 */
import v8 from 'node:v8';

/** The old generation's growing factor as V8's flag says it: 300 % growth, a factor of 4. */
export const HEAP_GROWING_PERCENT = 300;

let applied = false;

/** Sets the process's heap growing factor (once; later calls do nothing). */
export function setBrokerHeapGrowth(): void {
  if (applied) return;
  applied = true;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
