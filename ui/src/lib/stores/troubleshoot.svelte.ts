/**
 * The Troubleshoot view's state: the engine's log (skiffd's lines of the
 * VM console, or the file SKIFF_ENGINE_LOG names) and restarting the engine.
 * The VM's whole console is MachineConsole's.
 */
import * as api from '../api';
import { errorMessage } from '../errors';
import { toasts } from './toasts.svelte';

/** How many engine log lines to show. */
export const ENGINE_LOG_LINES = 500;

class TroubleshootStore {
  log = $state.raw<api.EngineLog | null>(null);
  /** Why there is no log to show (the backend's words). */
  logError = $state<string | null>(null);
  loaded = $state(false);
  restarting = $state(false);
  restartError = $state<string | null>(null);

  /** Reads the engine's log. */
  async loadLog(): Promise<void> {
    try {
      this.log = await api.engineLog(ENGINE_LOG_LINES);
      this.logError = null;
    } catch (err) {
      this.log = null;
      this.logError = errorMessage(err);
    } finally {
      this.loaded = true;
    }
  }

  /** Restarts the engine (its VM), then reads the log again. */
  async restart(): Promise<void> {
    if (this.restarting) return;
    this.restarting = true;
    this.restartError = null;
    try {
      await api.restartEngine();
      toasts.push('success', 'The engine restarted.');
    } catch (err) {
      this.restartError = errorMessage(err);
    } finally {
      this.restarting = false;
      void this.loadLog();
    }
  }

  reset(): void {
    this.log = null;
    this.logError = null;
    this.loaded = false;
    this.restarting = false;
    this.restartError = null;
  }
}

/** The Troubleshoot view's state. */
export const troubleshoot = new TroubleshootStore();
