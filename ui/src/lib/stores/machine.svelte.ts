/** The VM, from `machine_info` and `machine-state` / `machine-progress` events. */
import * as api from '../api';
import { errorMessage } from '../errors';
import { toasts } from './toasts.svelte';

class MachineStore {
  info = $state<api.MachineInfo | null>(null);
  loaded = $state(false);
  error = $state<string | null>(null);
  /** Latest start progress; cleared when the machine stops. */
  progress = $state<api.StartProgress | null>(null);
  /** A start or stop asked from this window and not answered yet. */
  busy = $state<'start' | 'stop' | null>(null);

  /** State to show: a pending start shows as starting before the backend says so. */
  get state(): api.MachineState | null {
    if (this.busy === 'start' && this.info?.state !== 'running') return 'starting';
    return this.info?.state ?? null;
  }

  /** Asks the backend. */
  async load(): Promise<void> {
    try {
      this.info = await api.machineInfo();
      this.error = null;
    } catch (err) {
      this.error = errorMessage(err);
    } finally {
      this.loaded = true;
    }
  }

  /** Takes a `machine-state` event. */
  set(info: api.MachineInfo): void {
    this.info = info;
    this.loaded = true;
    if (info.state === 'stopped' || info.state === 'broken') this.progress = null;
  }

  /** Takes a `machine-progress` event. */
  setProgress(p: api.StartProgress): void {
    this.progress = p;
  }

  /** Starts the VM. */
  async start(): Promise<void> {
    if (this.busy) return;
    this.busy = 'start';
    this.error = null;
    this.progress ??= { phase: 'launching', message: 'Starting the machine…' };
    try {
      await api.machineStart();
    } catch (err) {
      this.error = errorMessage(err);
      this.progress = null;
      toasts.error(`Could not start the machine: ${this.error}`);
    } finally {
      this.busy = null;
      void this.load();
    }
  }

  /** Stops the VM. */
  async stop(): Promise<void> {
    if (this.busy) return;
    this.busy = 'stop';
    this.error = null;
    try {
      await api.machineStop();
      this.progress = null;
    } catch (err) {
      this.error = errorMessage(err);
      toasts.error(`Could not stop the machine: ${this.error}`);
    } finally {
      this.busy = null;
      void this.load();
    }
  }

  reset(): void {
    this.info = null;
    this.loaded = false;
    this.error = null;
    this.progress = null;
    this.busy = null;
  }
}

/** The app's VM. */
export const machine = new MachineStore();
