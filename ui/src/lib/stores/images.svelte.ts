/** The image list, refreshed on demand and on engine events. */
import * as api from '../api';
import { errorMessage } from '../errors';
import { debounce } from '../format';
import { REFRESH_DEBOUNCE_MS } from './containers.svelte';
import { toasts } from './toasts.svelte';

class ImagesStore {
  items = $state<api.ImageSummary[]>([]);
  loaded = $state(false);
  error = $state<string | null>(null);
  /** Removals in flight, by image id. */
  removing = $state<Record<string, boolean>>({});
  #seq = 0;

  /** Fetches the list now. */
  async load(): Promise<void> {
    const seq = ++this.#seq;
    try {
      const items = await api.listImages();
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

  /** Removes an image; failures become notices. */
  async remove(id: string, force: boolean): Promise<boolean> {
    this.removing[id] = true;
    try {
      await api.removeImage(id, force);
      return true;
    } catch (err) {
      toasts.error(errorMessage(err));
      return false;
    } finally {
      delete this.removing[id];
      this.refreshSoon();
    }
  }

  reset(): void {
    this.refreshSoon.cancel();
    this.#seq++;
    this.items = [];
    this.loaded = false;
    this.error = null;
    this.removing = {};
  }
}

/** The app's image list. */
export const images = new ImagesStore();
