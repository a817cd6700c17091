/** Image pushes in progress or just finished, fed by `push-progress` / `push-done`. */
import * as api from '../api';
import { errorMessage } from '../errors';
import { applyProgress, layerDone, type Pull } from './pulls.svelte';
import { toasts } from './toasts.svelte';

/** One push, shown like a pull (same card). */
export type Push = Pull & { digest: string | null };

/** How long a successful push stays on screen. */
export const PUSH_LINGER_MS = 8000;

class PushesStore {
  items = $state<Push[]>([]);

  #find(reference: string): Push | undefined {
    return this.items.find((p) => p.reference === reference);
  }

  #ensure(reference: string): Push {
    let push = this.#find(reference);
    if (!push || push.done) {
      if (push) this.items = this.items.filter((p) => p !== push);
      this.items.unshift({
        key: reference,
        reference,
        status: 'Waiting',
        layers: [],
        done: false,
        error: null,
        digest: null,
      });
      push = this.items[0];
    }
    return push;
  }

  /** Whether a push of this reference is running. */
  isPushing(reference: string): boolean {
    const p = this.#find(reference);
    return !!p && !p.done;
  }

  /** Starts pushing; progress arrives through `progress` / `finish`. */
  async start(reference: string): Promise<void> {
    const ref = reference.trim();
    if (!ref || this.isPushing(ref)) return;
    const push = this.#ensure(ref);
    push.status = 'Starting push…';
    try {
      await api.pushImage(ref);
    } catch (err) {
      this.finish({ reference: ref, digest: null, error: errorMessage(err) });
    }
  }

  /** Takes a `push-progress` event. */
  progress(p: api.PushProgress): void {
    applyProgress(this.#ensure(p.reference), p);
  }

  /** Takes a `push-done` event. */
  finish(d: api.PushDone): void {
    const found = this.#find(d.reference);
    if (found?.done) return;
    const p = found ?? this.#ensure(d.reference);
    p.done = true;
    p.error = d.error;
    p.digest = d.digest;
    if (d.error) {
      p.status = d.error;
      toasts.error(`Push of ${p.reference} failed: ${d.error}`);
    } else {
      p.status = d.digest ? `Pushed · ${d.digest}` : 'Pushed';
      for (const l of p.layers) if (!layerDone(l)) l.status = 'Pushed';
      toasts.push('success', `Pushed ${p.reference}`);
      const key = p.key;
      setTimeout(() => this.dismiss(key), PUSH_LINGER_MS);
    }
  }

  /** Removes a finished push from the screen. */
  dismiss(key: string): void {
    this.items = this.items.filter((p) => p.key !== key || !p.done);
  }

  reset(): void {
    this.items = [];
  }
}

/** The app's pushes. */
export const pushes = new PushesStore();
