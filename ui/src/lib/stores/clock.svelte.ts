/** The time relative dates are shown against; ticks while the app runs (no backend calls). */
const TICK_MS = 30_000;

class ClockStore {
  now = $state(Date.now());
  #timer: ReturnType<typeof setInterval> | null = null;

  /** Starts ticking; returns the function that stops it. */
  start(): () => void {
    this.now = Date.now();
    this.#timer ??= setInterval(() => (this.now = Date.now()), TICK_MS);
    return () => {
      if (this.#timer) clearInterval(this.#timer);
      this.#timer = null;
    };
  }
}

/** The app's clock for "5 minutes ago" labels. */
export const clock = new ClockStore();
