import { describe, expect, it } from 'vitest';
import { DEFAULT_ROW_HEIGHT, OVERSCAN, WINDOW_THRESHOLD, rowWindow } from '../lib/windowing';

describe('rowWindow', () => {
  it('renders short lists whole', () => {
    expect(rowWindow(WINDOW_THRESHOLD, 40, 5000, 800)).toEqual({
      start: 0,
      end: WINDOW_THRESHOLD,
      before: 0,
      after: 0,
      windowed: false,
    });
  });

  it('renders the viewport and the overscan, spacers for the rest', () => {
    const w = rowWindow(1000, 40, 0, 800);
    expect(w).toMatchObject({ start: 0, end: 20 + OVERSCAN, before: 0, windowed: true });
    expect(w.after).toBe((1000 - w.end) * 40);
    const mid = rowWindow(1000, 40, 20_000, 800);
    expect(mid.start).toBe(500 - OVERSCAN);
    expect(mid.end).toBe(520 + OVERSCAN);
    // The spacers and the rows add up to the whole list's height.
    expect(mid.before + (mid.end - mid.start) * 40 + mid.after).toBe(1000 * 40);
  });

  it('clamps at the bottom and past it', () => {
    const bottom = rowWindow(1000, 40, 1000 * 40 - 800, 800);
    expect(bottom.end).toBe(1000);
    expect(bottom.after).toBe(0);
    const past = rowWindow(1000, 40, 10_000_000, 800);
    expect(past.start).toBeLessThanOrEqual(past.end);
    expect(past.end).toBe(1000);
    expect(past.after).toBe(0);
  });

  it('assumes a row height and viewport until measured', () => {
    const w = rowWindow(1000, 0, 0, 0);
    expect(w.end).toBeGreaterThan(0);
    expect(w.end).toBeLessThan(100);
    expect(w.after).toBe((1000 - w.end) * DEFAULT_ROW_HEIGHT);
  });
});
