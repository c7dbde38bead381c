/**
 * A latency recorder in the manner of HdrHistogram: log-linear buckets that keep about three
 * significant digits over a wide range at a fixed, small memory cost.
 *
 * Values are whole microseconds (fractions are rounded). Values below 2048 get one slot each.
 * Above that, each power-of-two range [2^k, 2^(k+1)) is split into 1024 equal slots, so a slot
 * is never wider than 1/1024 of the values it holds (0.1% relative error). Each slot index is
 * `shift * 1024 + (value >> shift)`, where `shift` is how far the value must be shifted right to
 * fit in 11 bits.
 */

const SUB_BUCKET_BITS = 11;
const SUB_BUCKET_COUNT = 1 << SUB_BUCKET_BITS; // 2048: one slot per value below this
const SUB_BUCKET_HALF = SUB_BUCKET_COUNT >> 1; // 1024 slots per power of two above it

/** Largest value kept exactly in a bucket; larger ones are clamped to it (2^36 us is about 19 hours). */
export const HIGHEST_TRACKABLE_MICROS = 2 ** 36 - 1;

function shiftFor(value: number): number {
  if (value < SUB_BUCKET_COUNT) return 0;
  // Math.log2 can be off by one next to a power of two; correct it against the slot bounds.
  let shift = Math.floor(Math.log2(value)) - (SUB_BUCKET_BITS - 1);
  if (Math.floor(value / 2 ** shift) >= SUB_BUCKET_COUNT) shift++;
  else if (Math.floor(value / 2 ** shift) < SUB_BUCKET_HALF) shift--;
  return shift;
}

function indexFor(value: number): number {
  const shift = shiftFor(value);
  return shift * SUB_BUCKET_HALF + Math.floor(value / 2 ** shift);
}

/** The lowest value and the width of the slot at `index`. */
function slotBounds(index: number): { lowest: number; width: number } {
  const shift = index < SUB_BUCKET_COUNT ? 0 : Math.floor(index / SUB_BUCKET_HALF) - 1;
  const sub = index - shift * SUB_BUCKET_HALF;
  const width = 2 ** shift;
  return { lowest: sub * width, width };
}

const SLOT_COUNT = indexFor(HIGHEST_TRACKABLE_MICROS) + 1;

export interface HistogramSnapshot {
  readonly slots: readonly (readonly [index: number, count: number])[];
  readonly total: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
}

export class Histogram {
  private readonly counts = new Float64Array(SLOT_COUNT);
  private total = 0;
  private sum = 0;
  private minValue = Number.POSITIVE_INFINITY;
  private maxValue = 0;

  /** Records `count` occurrences of `valueMicros`; negative values count as 0. */
  record(valueMicros: number, count = 1): void {
    const value = Math.min(Math.max(0, Math.round(valueMicros)), HIGHEST_TRACKABLE_MICROS);
    this.counts[indexFor(value)]! += count;
    this.total += count;
    this.sum += value * count;
    if (value < this.minValue) this.minValue = value;
    if (value > this.maxValue) this.maxValue = value;
  }

  get count(): number {
    return this.total;
  }

  get mean(): number {
    return this.total === 0 ? 0 : this.sum / this.total;
  }

  get max(): number {
    return this.maxValue;
  }

  get min(): number {
    return this.total === 0 ? 0 : this.minValue;
  }

  /**
   * The value at percentile `p` (0-100): the highest value equivalent to the smallest recorded
   * value that at least p% of the records do not exceed. Within 0.1% of the exact answer.
   */
  percentile(p: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(Math.max(p, 0), 100) / 100) * this.total));
    let seen = 0;
    for (let index = 0; index < SLOT_COUNT; index++) {
      seen += this.counts[index]!;
      if (seen >= rank) {
        const { lowest, width } = slotBounds(index);
        return Math.min(Math.max(lowest + width - 1, this.minValue), this.maxValue);
      }
    }
    return this.maxValue;
  }

  /** A compact copy (non-empty slots only) that survives JSON, to send from another process. */
  toJSON(): HistogramSnapshot {
    const slots: [index: number, count: number][] = [];
    for (let index = 0; index < SLOT_COUNT; index++)
      if (this.counts[index]! > 0) slots.push([index, this.counts[index]!]);
    return { slots, total: this.total, sum: this.sum, min: this.min, max: this.maxValue };
  }

  static fromJSON(snapshot: HistogramSnapshot): Histogram {
    const histogram = new Histogram();
    for (const [index, count] of snapshot.slots) {
      if (index >= 0 && index < SLOT_COUNT) histogram.counts[index]! += count;
    }
    histogram.total = snapshot.total;
    histogram.sum = snapshot.sum;
    histogram.minValue = snapshot.total === 0 ? Number.POSITIVE_INFINITY : snapshot.min;
    histogram.maxValue = snapshot.max;
    return histogram;
  }

  /** Adds every record of `other` into this histogram. */
  merge(other: Histogram): void {
    for (let index = 0; index < SLOT_COUNT; index++) this.counts[index]! += other.counts[index]!;
    this.total += other.total;
    this.sum += other.sum;
    if (other.total > 0) {
      this.minValue = Math.min(this.minValue, other.minValue);
      this.maxValue = Math.max(this.maxValue, other.maxValue);
    }
  }
}
