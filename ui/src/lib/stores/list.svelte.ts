/** A list the backend serves, re-read on demand and after engine events. */
import { errorMessage } from '../errors';
import { debounce } from '../format';
import { REFRESH_DEBOUNCE_MS } from './containers.svelte';
import { toasts } from './toasts.svelte';

export class ListStore<T> {
  items = $state<T[]>([]);
  loaded = $state(false);
  error = $state<string | null>(null);
  /** Operations in flight, by item key (the label says which). */
  busy = $state<Record<string, string>>({});
  #seq = 0;
  #fetch: () => Promise<T[]>;

  constructor(fetch: () => Promise<T[]>) {
    this.#fetch = fetch;
  }

  /** Fetches the list now; a late answer of an older load is dropped. */
  async load(): Promise<void> {
    const seq = ++this.#seq;
    try {
      const items = await this.#fetch();
      if (seq !== this.#seq) return;
      this.items = items;
      this.error = null;
    } catch (err) {
      if (seq !== this.#seq) return;
      this.error = errorMessage(err);
    } finally {
      if (seq === this.#seq) this.loaded = true;
    }
  }

  /** Fetches the list after a burst of events settles. */
  refreshSoon = debounce(() => void this.load(), REFRESH_DEBOUNCE_MS);

  /**
   * Runs `op` for item `key` (shown as `label` while it runs); a failure
   * becomes an error notice prefixed with `what`. Resolves to the result,
   * or null when it failed.
   */
  async run<R>(key: string, label: string, what: string, op: () => Promise<R>): Promise<R | null> {
    this.busy[key] = label;
    try {
      return await op();
    } catch (err) {
      toasts.error(`${what}: ${errorMessage(err)}`);
      return null;
    } finally {
      delete this.busy[key];
      this.refreshSoon();
    }
  }

  reset(): void {
    this.refreshSoon.cancel();
    this.#seq++;
    this.items = [];
    this.loaded = false;
    this.error = null;
    this.busy = {};
  }
}
