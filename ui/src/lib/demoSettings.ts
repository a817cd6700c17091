/**
 * The demo backend's Settings and Troubleshoot commands: realistic
 * settings, contexts and an engine log, with the same refusals as the app
 * (unknown units, a disk change without a reset, an unknown context).
 */
import type { AutostartStatus, DockerContexts, EngineLog, MachineSettings, SettingsChange } from './api';

const UNITS: Record<string, number> = { '': 1, K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 };

/** MiB of `text` (a bare number is `bare` MiB), or an error in the app's words. */
function mib(setting: string, text: string, bare: number): number {
  const m = /^\s*(\d+)\s*([kmgt]?)i?b?\s*$/i.exec(text);
  if (!m) throw { kind: 'invalid_request', message: `Invalid setting ${setting}: invalid size "${text}".` };
  const unit = m[2].toUpperCase();
  return Math.floor(Number(m[1]) * (unit === '' ? bare : UNITS[unit]));
}

/** Lines skiffd writes (as on the VM console), over the last 38 minutes. */
function engineLines(): string[] {
  const t0 = Date.now() - 38 * 60_000;
  const at = (s: number) => new Date(t0 + s * 1000).toISOString().replace(/\.(\d{3})Z$/, '.$1412Z');
  return [
    'skiff-init: starting skiffd',
    `${at(0)}  INFO skiffd: skiffd 0.4.0 (api 1.50) data root /var/lib/skiff`,
    `${at(0.2)}  INFO skiff_engine::networks: bridge skiff0 172.17.0.1/16`,
    `${at(0.3)}  INFO skiffd_api: listening on unix:///run/skiff/docker.sock`,
    `${at(41)}  INFO skiff_engine::images::pull: pulled docker.io/library/postgres:16 (6 layers, 148.2 MB)`,
    `${at(44)}  INFO skiff_engine::containers: started shop-db-1 (4c1d2e9a7b30)`,
    `${at(45)}  INFO skiff_engine::containers: started shop-web-1 (9f2a61c0d8e4)`,
    `${at(312)}  WARN skiff_engine::containers::health: shop-web-1: health check timed out after 30s`,
    `${at(342)}  INFO skiff_engine::containers::health: shop-web-1 is healthy`,
    `${at(1210)}  INFO skiff_engine::build: built sha256:5e1c0a7d… as acme/api:dev in 12.4s`,
    `${at(1890)}  INFO skiff_engine::volumes: removed 2 unused volumes (412.0 MB)`,
  ];
}

/** Settings, contexts, start at login and the engine log of the demo. */
export class DemoSettings {
  #settings: MachineSettings = {
    cpus: 4,
    memoryMib: 4096,
    diskGib: 64,
    mounts: ['/home/alex'],
    defaultMounts: true,
    hostCpus: 12,
  };
  #contexts: DockerContexts = {
    contexts: [
      { name: 'default', description: 'Current DOCKER_HOST based configuration', host: 'unix:///var/run/docker.sock' },
      { name: 'colima', description: 'colima', host: 'unix:///home/alex/.colima/default/docker.sock' },
      { name: 'skiff', description: 'Skiff machine default', host: 'unix:///home/alex/.skiff/machines/default/docker.sock' },
    ],
    current: 'skiff',
    overriddenBy: null,
  };
  #autostart: AutostartStatus = { enabled: true, location: '/home/alex/.config/autostart/skiff-desktop.desktop' };

  settings(): MachineSettings {
    return { ...this.#settings };
  }

  /** Checks and saves `change` as the app would; `running` says whether it "restarts". */
  apply(change: SettingsChange, running: boolean): { restarted: boolean; settings: MachineSettings } {
    const memoryMib = mib('memory', change.memory, 1);
    const diskGib = mib('disk', change.disk, 1024) / 1024;
    if (diskGib !== this.#settings.diskGib) {
      throw {
        kind: 'invalid_request',
        message: `The data disk's size (${this.#settings.diskGib} GiB) is fixed when the machine is created; to get ${diskGib} GiB, reset the machine.`,
      };
    }
    this.#settings = {
      ...this.#settings,
      cpus: change.cpus,
      memoryMib,
      mounts: change.mounts ?? ['/home/alex'],
      defaultMounts: change.mounts === null,
    };
    return { restarted: running, settings: this.settings() };
  }

  recreate(change: SettingsChange): void {
    this.apply({ ...change, disk: `${this.#settings.diskGib}G` }, false);
    this.#settings.diskGib = mib('disk', change.disk, 1024) / 1024;
  }

  contexts(): DockerContexts {
    return structuredClone(this.#contexts);
  }

  use(name: string): DockerContexts {
    if (!this.#contexts.contexts.some((c) => c.name === name)) {
      throw { kind: 'not_found', message: `Context "${name}" does not exist.` };
    }
    this.#contexts.current = name;
    return this.contexts();
  }

  autostart(): AutostartStatus {
    return { ...this.#autostart };
  }

  setAutostart(enabled: boolean): AutostartStatus {
    this.#autostart.enabled = enabled;
    return this.autostart();
  }

  engineLog(lines: number): EngineLog {
    return { source: "skiffd's lines of the machine's console", lines: engineLines().slice(-lines) };
  }
}
