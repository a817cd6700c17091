/**
 * A container's recent stats as chart points: the last `capacity`
 * samples of the `container-stats` stream, with network and block I/O
 * totals turned into rates (bytes a second) between consecutive samples.
 */
import type { StatsSample } from './api';

/** One point of the Stats tab's charts. */
export interface StatsPoint {
  /** The sample's time. */
  time: Date;
  cpu: number;
  /** Bytes in use. */
  memory: number;
  memoryLimit: number;
  /** Bytes a second, received / sent. */
  rx: number;
  tx: number;
  /** Bytes a second, read / written. */
  read: number;
  write: number;
}

/** Samples kept: two minutes at the engine's one a second. */
export const STATS_CAPACITY = 120;

/**
 * The next points after `sample`: appended to `points` (a new array; the
 * oldest dropped beyond `capacity`). `previous` is the sample before (for
 * rates; the first point's rates are 0). A counter that went down (the
 * container restarted) counts as a fresh start: rate 0.
 */
export function appendSample(
  points: readonly StatsPoint[],
  previous: StatsSample | null,
  sample: StatsSample,
  capacity: number = STATS_CAPACITY,
): StatsPoint[] {
  const at = sample.at || Date.now();
  const seconds = previous && previous.at && at > previous.at ? (at - previous.at) / 1000 : 0;
  const rate = (now: number, before: number | undefined) =>
    seconds > 0 && before !== undefined && now >= before ? (now - before) / seconds : 0;
  const point: StatsPoint = {
    time: new Date(at),
    cpu: sample.cpuPercent,
    memory: sample.memory,
    memoryLimit: sample.memoryLimit,
    rx: rate(sample.netRx, previous?.netRx),
    tx: rate(sample.netTx, previous?.netTx),
    read: rate(sample.blockRead, previous?.blockRead),
    write: rate(sample.blockWrite, previous?.blockWrite),
  };
  const next = points.concat(point);
  return next.length > capacity ? next.slice(next.length - capacity) : next;
}
