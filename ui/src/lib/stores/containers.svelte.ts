/** The container list, refreshed on demand and on engine events. */
import * as api from '../api';
import { errorMessage } from '../errors';
import { debounce } from '../format';
import { toasts } from './toasts.svelte';

/** Delay that folds a burst of engine events into one refresh. */
export const REFRESH_DEBOUNCE_MS = 200;

const PAST: Record<api.ContainerAction, string> = {
  start: 'started',
  stop: 'stopped',
  restart: 'restarted',
  remove: 'removed',
};

class ContainersStore {
  items = $state<api.ContainerSummary[]>([]);
  loaded = $state(false);
  error = $state<string | null>(null);
  /** Actions in flight, by container id. */
  pending = $state<Record<string, api.ContainerAction>>({});
  #seq = 0;

  /** Fetches the list now. */
  async load(): Promise<void> {
    const seq = ++this.#seq;
    try {
      const items = await api.listContainers();
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

  /** Finds a container by id. */
  byId(id: string): api.ContainerSummary | undefined {
    return this.items.find((c) => c.id === id);
  }

  /** Runs one action on one container; failures become notices. */
  async act(id: string, action: api.ContainerAction): Promise<boolean> {
    this.pending[id] = action;
    try {
      await api.containerAction(id, action);
      return true;
    } catch (err) {
      const name = this.byId(id)?.name ?? id.slice(0, 12);
      toasts.error(`${name}: ${errorMessage(err)}`);
      return false;
    } finally {
      delete this.pending[id];
      this.refreshSoon();
    }
  }

  /** Runs one action on several containers at once. */
  async actAll(ids: string[], action: api.ContainerAction): Promise<void> {
    const results = await Promise.all(ids.map((id) => this.act(id, action)));
    const ok = results.filter(Boolean).length;
    if (ok > 1) toasts.push('success', `${ok} containers ${PAST[action]}`);
  }

  /** Actions in flight, by compose project. */
  projectPending = $state<Record<string, api.ContainerAction>>({});

  /** Runs one action on every container of a compose project; failures become notices. */
  async actProject(project: string, action: api.ContainerAction): Promise<boolean> {
    this.projectPending[project] = action;
    try {
      await api.projectAction(project, action);
      toasts.push('success', `Project ${project} ${PAST[action]}`);
      return true;
    } catch (err) {
      toasts.error(`${project}: ${errorMessage(err)}`);
      return false;
    } finally {
      delete this.projectPending[project];
      this.refreshSoon();
    }
  }

  /** Opens a published port in the default browser; failures become notices. */
  async openPort(port: number): Promise<void> {
    try {
      await api.openPort(port);
    } catch (err) {
      toasts.error(`Could not open http://localhost:${port}: ${errorMessage(err)}`);
    }
  }

  reset(): void {
    this.projectPending = {};
    this.refreshSoon.cancel();
    this.#seq++;
    this.items = [];
    this.loaded = false;
    this.error = null;
    this.pending = {};
  }
}

/** The app's container list. */
export const containers = new ContainersStore();
