/** Whether the engine answers, from `engine_status` and `engine-state` events. */
import * as api from '../api';
import { errorMessage } from '../errors';

class EngineStore {
  status = $state<api.EngineStatus | null>(null);

  /** True once the engine was seen reachable in the last report. */
  get reachable(): boolean {
    return this.status?.reachable === true;
  }

  /** Asks the backend. */
  async load(): Promise<void> {
    try {
      this.status = await api.engineStatus();
    } catch (err) {
      this.status = { reachable: false, endpoint: '', version: null, error: errorMessage(err) };
    }
  }

  /** Takes a report from an `engine-state` event. */
  set(status: api.EngineStatus): void {
    this.status = status;
  }

  reset(): void {
    this.status = null;
  }
}

/** The engine's reachability. */
export const engine = new EngineStore();
