/**
 * Windowing for long tables: only the rows in (and near) the viewport are
 * rendered, spacer rows stand for the others so the scrollbar keeps the
 * whole list's height. Lists of up to {@link WINDOW_THRESHOLD} rows render
 * whole (cheap, and every row stays in the DOM for find-in-page and
 * tests); longer ones are windowed.
 */

/** Lists longer than this are windowed. */
export const WINDOW_THRESHOLD = 200;
/** Rows rendered beyond each edge of the viewport. */
export const OVERSCAN = 12;
/** Row height assumed until one is measured. */
export const DEFAULT_ROW_HEIGHT = 44;
/** Viewport height assumed until one is measured (no layout, e.g. jsdom). */
export const DEFAULT_VIEWPORT = 900;

/** The rows to render, `[start, end)`, and the spacers' heights in px. */
export interface RowWindow {
  start: number;
  end: number;
  before: number;
  after: number;
  /** Whether the list is windowed at all. */
  windowed: boolean;
}

/**
 * The window of a list of `count` rows of `rowHeight` px (0: not measured
 * yet), scrolled by `scrollTop` px in a viewport of `viewport` px (0: not
 * measured yet).
 */
export function rowWindow(
  count: number,
  rowHeight: number,
  scrollTop: number,
  viewport: number,
  overscan = OVERSCAN,
): RowWindow {
  if (count <= WINDOW_THRESHOLD) return { start: 0, end: count, before: 0, after: 0, windowed: false };
  const h = rowHeight > 0 ? rowHeight : DEFAULT_ROW_HEIGHT;
  const view = viewport > 0 ? viewport : DEFAULT_VIEWPORT;
  const top = Math.max(0, scrollTop);
  const first = Math.min(count, Math.floor(top / h));
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, Math.ceil((top + view) / h) + overscan);
  return { start, end: Math.max(start, end), before: start * h, after: (count - Math.max(start, end)) * h, windowed: true };
}
