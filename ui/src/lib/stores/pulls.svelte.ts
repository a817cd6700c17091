/** Image pulls in progress or just finished, fed by `pull-progress` / `pull-done`. */
import * as api from '../api';
import { errorMessage } from '../errors';
import { normalizeReference } from '../format';
import { images } from './images.svelte';
import { toasts } from './toasts.svelte';

/** One layer's latest progress report. */
export interface LayerProgress {
  id: string;
  status: string;
  current: number | null;
  total: number | null;
}

/** One pull, as shown under the pull bar. */
export interface Pull {
  /** Normal form of the reference (see `normalizeReference`). */
  key: string;
  /** The reference as typed. */
  reference: string;
  /** Latest whole-image status line. */
  status: string;
  layers: LayerProgress[];
  done: boolean;
  error: string | null;
}

/** How long a successful pull stays on screen. */
export const DONE_LINGER_MS = 6000;

/** Statuses of a finished layer, pulled or pushed. */
const FINISHED = /complete|already exists|pulled|pushed|mounted from/i;

/** 0–100: how far a layer is in its current phase. */
export function layerPercent(l: LayerProgress): number {
  if (FINISHED.test(l.status)) return 100;
  if (l.current != null && l.total) return Math.min(100, Math.round((l.current / l.total) * 100));
  return 0;
}

/** Whether a layer is finished. */
export function layerDone(l: LayerProgress): boolean {
  return FINISHED.test(l.status);
}

/**
 * Applies a `pull-progress` or `push-progress` event to its card: a line
 * without a layer is the whole image's status; a layer's line updates that
 * layer, or adds it the first time.
 */
export function applyProgress(item: Pull, p: api.PullProgress): void {
  if (p.layer == null) {
    item.status = p.status;
    return;
  }
  const layer = item.layers.find((l) => l.id === p.layer);
  if (layer) {
    layer.status = p.status;
    layer.current = p.current;
    layer.total = p.total;
  } else {
    item.layers.push({ id: p.layer, status: p.status, current: p.current, total: p.total });
  }
}

class PullsStore {
  items = $state<Pull[]>([]);

  #find(reference: string): Pull | undefined {
    const exact = this.items.find((p) => p.reference === reference);
    if (exact) return exact;
    const key = normalizeReference(reference);
    return this.items.find((p) => p.key === key);
  }

  #ensure(reference: string): Pull {
    let pull = this.#find(reference);
    if (!pull || pull.done) {
      if (pull) this.items = this.items.filter((p) => p !== pull);
      this.items.unshift({
        key: normalizeReference(reference),
        reference,
        status: 'Waiting',
        layers: [],
        done: false,
        error: null,
      });
      pull = this.items[0];
    }
    return pull;
  }

  /** Whether a pull of this reference is running. */
  isPulling(reference: string): boolean {
    const p = this.#find(reference);
    return !!p && !p.done;
  }

  /** Starts pulling; progress arrives through `progress` / `finish`. */
  async start(reference: string): Promise<void> {
    const ref = reference.trim();
    if (!ref || this.isPulling(ref)) return;
    const pull = this.#ensure(ref);
    pull.status = 'Starting pull…';
    try {
      await api.pullImage(ref);
    } catch (err) {
      this.finish({ reference: ref, error: errorMessage(err) });
    }
  }

  /** Takes a `pull-progress` event. */
  progress(p: api.PullProgress): void {
    applyProgress(this.#ensure(p.reference), p);
  }

  /** Takes a `pull-done` event. */
  finish(d: api.PullDone): void {
    const pull = this.#find(d.reference);
    if (pull?.done) return;
    const p = pull ?? this.#ensure(d.reference);
    p.done = true;
    p.error = d.error;
    if (d.error) {
      p.status = d.error;
      toasts.error(`Pull of ${p.reference} failed: ${d.error}`);
    } else {
      p.status = 'Pulled';
      for (const l of p.layers) if (!layerDone(l)) l.status = 'Pull complete';
      toasts.push('success', `Pulled ${p.reference}`);
      const key = p.key;
      setTimeout(() => this.dismiss(key), DONE_LINGER_MS);
    }
    images.refreshSoon();
  }

  /** Removes a finished pull from the screen. */
  dismiss(key: string): void {
    this.items = this.items.filter((p) => p.key !== key || !p.done);
  }

  reset(): void {
    this.items = [];
  }
}

/** The app's pulls. */
export const pulls = new PullsStore();
