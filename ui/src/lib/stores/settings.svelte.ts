/**
 * The Settings view's state: the machine's settings (edited as typed, checked
 * here for the obvious and by the backend for everything), the docker CLI's
 * contexts, start at login and the theme.
 */
import * as api from '../api';
import { errorMessage } from '../errors';
import { setTheme, savedTheme, type ThemeSetting } from '../theme';
import { machine } from './machine.svelte';
import { toasts } from './toasts.svelte';

/** A size as `skiff machine` takes it: a number with an optional K/M/G/T unit (`i`, `B` allowed). */
const SIZE = /^\s*\d+\s*([kmgt]i?b?)?\s*$/i;

/** `4096` MiB → `4G`; `1536` → `1536M`. */
export function sizeText(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}G` : `${mib}M`;
}

/** What the form holds. */
export interface SettingsForm {
  cpus: number;
  memory: string;
  disk: string;
  /** One `HOST[:GUEST][:ro]` a line. */
  mounts: string;
  /** Share the defaults (the home folder) rather than `mounts`. */
  defaultMounts: boolean;
}

/** Problems the form shows before asking the backend, by field. */
export function checkForm(form: SettingsForm, hostCpus: number): Partial<Record<keyof SettingsForm, string>> {
  const problems: Partial<Record<keyof SettingsForm, string>> = {};
  if (!Number.isInteger(form.cpus) || form.cpus < 1) problems.cpus = 'At least 1 CPU.';
  else if (form.cpus > hostCpus) problems.cpus = `This computer has ${hostCpus}.`;
  if (!SIZE.test(form.memory)) problems.memory = 'A size such as 4G, 4096M or 4096 (MiB).';
  if (!SIZE.test(form.disk)) problems.disk = 'A size such as 64G or 1T.';
  if (!form.defaultMounts) {
    const bad = mountLines(form.mounts).find((m) => !m.startsWith('/') && !/^[a-z]:[\\/]/i.test(m));
    if (bad) problems.mounts = `${bad}: the host folder must be an absolute path.`;
  }
  return problems;
}

function mountLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** The change the form describes. */
export function changeOf(form: SettingsForm): api.SettingsChange {
  return {
    cpus: form.cpus,
    memory: form.memory.trim(),
    disk: form.disk.trim(),
    mounts: form.defaultMounts ? null : mountLines(form.mounts),
  };
}

function formOf(s: api.MachineSettings): SettingsForm {
  return {
    cpus: s.cpus,
    memory: sizeText(s.memoryMib),
    disk: `${s.diskGib}G`,
    mounts: s.mounts.join('\n'),
    defaultMounts: s.defaultMounts,
  };
}

class SettingsStore {
  /** The saved settings (null: no machine, or not loaded). */
  machine = $state<api.MachineSettings | null>(null);
  form = $state<SettingsForm>({ cpus: 1, memory: '', disk: '', mounts: '', defaultMounts: true });
  loaded = $state(false);
  /** The machine's (or the app's) answer to the last load or apply. */
  error = $state<string | null>(null);
  busy = $state<'apply' | 'reset' | null>(null);

  contexts = $state<api.DockerContexts | null>(null);
  contextsError = $state<string | null>(null);
  switching = $state<string | null>(null);

  autostart = $state<api.AutostartStatus | null>(null);
  autostartError = $state<string | null>(null);

  theme = $state<ThemeSetting>(savedTheme());

  /** The form differs from the saved settings. */
  get dirty(): boolean {
    if (!this.machine) return false;
    const saved = formOf(this.machine);
    const f = this.form;
    return (
      f.cpus !== saved.cpus ||
      f.memory.trim() !== saved.memory ||
      f.disk.trim() !== saved.disk ||
      f.defaultMounts !== saved.defaultMounts ||
      (!f.defaultMounts && mountLines(f.mounts).join('\n') !== mountLines(saved.mounts).join('\n'))
    );
  }

  /** Reads everything the view shows. */
  async load(): Promise<void> {
    await Promise.all([this.loadMachine(), this.loadContexts(), this.loadAutostart()]);
  }

  async loadMachine(): Promise<void> {
    try {
      this.machine = await api.machineSettings();
      if (this.machine) this.form = formOf(this.machine);
      this.error = null;
    } catch (err) {
      this.error = errorMessage(err);
    } finally {
      this.loaded = true;
    }
  }

  async loadContexts(): Promise<void> {
    try {
      this.contexts = await api.dockerContexts();
      this.contextsError = null;
    } catch (err) {
      this.contextsError = errorMessage(err);
    }
  }

  async loadAutostart(): Promise<void> {
    try {
      this.autostart = await api.autostart();
      this.autostartError = null;
    } catch (err) {
      this.autostartError = errorMessage(err);
    }
  }

  /** Puts the form back to the saved settings. */
  revert(): void {
    if (this.machine) this.form = formOf(this.machine);
    this.error = null;
  }

  /** Saves the form; a running VM restarts. True when it was applied. */
  async apply(): Promise<boolean> {
    if (this.busy) return false;
    this.busy = 'apply';
    this.error = null;
    try {
      const applied = await api.applyMachineSettings(changeOf(this.form));
      this.machine = applied.settings;
      this.form = formOf(applied.settings);
      // The sidebar and the Machine view show the new resources at once.
      void machine.load();
      toasts.push('success', applied.restarted ? 'Settings applied: the machine restarted.' : 'Settings saved: they apply at the next start.');
      return true;
    } catch (err) {
      this.error = errorMessage(err);
      return false;
    } finally {
      this.busy = null;
    }
  }

  /** Deletes the machine and creates it again with the form's settings. */
  async recreate(): Promise<boolean> {
    if (this.busy) return false;
    this.busy = 'reset';
    this.error = null;
    try {
      const restarted = await api.recreateMachine(changeOf(this.form));
      toasts.push('success', restarted ? 'The machine was reset and started again.' : 'The machine was reset.');
      await Promise.all([this.loadMachine(), machine.load()]);
      return true;
    } catch (err) {
      this.error = errorMessage(err);
      return false;
    } finally {
      this.busy = null;
    }
  }

  /** Makes `name` the docker CLI's current context. */
  async useContext(name: string): Promise<void> {
    if (this.switching) return;
    this.switching = name;
    try {
      this.contexts = await api.useDockerContext(name);
      this.contextsError = null;
      toasts.push('success', `docker now uses the context “${name}”.`);
    } catch (err) {
      this.contextsError = errorMessage(err);
    } finally {
      this.switching = null;
    }
  }

  /** Turns start at login on or off. */
  async setAutostart(enabled: boolean): Promise<void> {
    try {
      this.autostart = await api.setAutostart(enabled);
      this.autostartError = null;
    } catch (err) {
      this.autostartError = errorMessage(err);
    }
  }

  /** Light, dark or the OS's. */
  setTheme(theme: ThemeSetting): void {
    this.theme = theme;
    setTheme(theme);
  }

  reset(): void {
    this.machine = null;
    this.form = { cpus: 1, memory: '', disk: '', mounts: '', defaultMounts: true };
    this.loaded = false;
    this.error = null;
    this.busy = null;
    this.contexts = null;
    this.contextsError = null;
    this.switching = null;
    this.autostart = null;
    this.autostartError = null;
    this.theme = savedTheme();
  }
}

/** The Settings view's state. */
export const settings = new SettingsStore();
