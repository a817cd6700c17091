/**
 * The one module that talks to the Skiff backend (src-tauri): a typed
 * function for every command and a subscription for every event. Components
 * and stores get their data through here, so tests mock this module alone.
 *
 * Outside Tauri, development builds (`npm run dev`) and demo builds
 * (`npm run build:demo`) answer from the in-browser demo backend in
 * `demo.ts`; production builds (`npm run build`) never include it.
 */
import { invoke as tauriInvoke, isTauri } from '@tauri-apps/api/core';
import { listen as tauriListen } from '@tauri-apps/api/event';
import { ApiError, toApiError } from './errors';

export { ApiError } from './errors';

// ---------------------------------------------------------------- types

/** `engine_status` and the `engine-state` event. */
export interface EngineStatus {
  reachable: boolean;
  endpoint: string;
  version: string | null;
  error: string | null;
}

/** One row of `list_containers`. */
export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  /** Docker's state: created, running, paused, restarting, removing, exited, dead. */
  state: string;
  /** Docker's status text, e.g. "Up 3 minutes", "Exited (0) 2 hours ago". */
  status: string;
  /** Unix seconds. */
  created: number;
  /** Published ports, e.g. "0.0.0.0:8080->80/tcp, 443/tcp"; empty when none. */
  ports: string;
  /** TCP ports published on the host (once each, sorted): `openPort` opens them. */
  published: number[];
  /** The compose project (label com.docker.compose.project), or null. */
  project: string | null;
  /** The compose service (label com.docker.compose.service), or null. */
  service: string | null;
  /** "starting", "healthy" or "unhealthy"; null without a healthcheck. */
  health: string | null;
}

/** What `container_action` does to a container. */
export type ContainerAction = 'start' | 'stop' | 'restart' | 'remove';

/** One row of `list_images`. */
export interface ImageSummary {
  id: string;
  repoTags: string[];
  /** Bytes. */
  size: number;
  /** Unix seconds. */
  created: number;
  inUse: boolean;
}

/** The argument of `run_container`. */
export interface RunRequest {
  image: string;
  name: string | null;
  /** KEY=VALUE entries. */
  env: string[];
  /** Command line, split by the backend; null keeps the image's. */
  cmd: string | null;
  autoRemove: boolean;
  /** Published ports, `-p` entries: "8080:80", "127.0.0.1:5353:53/udp". */
  ports?: string[];
}

/** One row of `list_volumes`. */
export interface VolumeSummary {
  name: string;
  driver: string;
  mountpoint: string;
  /** RFC 3339, or null when the engine does not say. */
  created: string | null;
  /** Names of the containers (running or not) that mount it. */
  usedBy: string[];
  labels: Record<string, string>;
}

/** The argument of `create_volume`. */
export interface CreateVolumeRequest {
  /** Null: the engine picks a name. */
  name: string | null;
  /** Null: `local`. */
  driver: string | null;
  /** KEY=VALUE entries. */
  labels: string[];
}

/** What `prune_volumes` removed. */
export interface PruneResult {
  removed: string[];
  /** Bytes. */
  spaceReclaimed: number;
}

/** A container on a network. */
export interface AttachedContainer {
  name: string;
  id: string;
  /** e.g. "172.18.0.2/16"; empty while the container is not running. */
  ipv4: string;
  ipv6: string;
}

/** One row of `list_networks`. */
export interface NetworkSummary {
  id: string;
  name: string;
  driver: string;
  subnets: string[];
  gateways: string[];
  internal: boolean;
  /** RFC 3339, or null. */
  created: string | null;
  /** bridge, host or none: cannot be removed. */
  predefined: boolean;
  containers: AttachedContainer[];
  labels: Record<string, string>;
}

/** The argument of `create_network`. */
export interface CreateNetworkRequest {
  name: string;
  /** Null: `bridge`. */
  driver: string | null;
  /** CIDR; null: the engine picks one. */
  subnet: string | null;
  /** Needs a subnet. */
  gateway: string | null;
  internal: boolean;
  /** KEY=VALUE entries. */
  labels: string[];
}

/** The VM's lifecycle state. */
export type MachineState = 'running' | 'stopped' | 'starting' | 'broken';

/** `machine_info` and the `machine-state` event. */
export interface MachineInfo {
  name: string;
  state: MachineState;
  /** Why the machine is broken (or stopped unexpectedly). */
  reason: string | null;
  cpus: number;
  memory_mib: number;
  disk_gib: number;
  socket: string;
}

/** The `machine-progress` event while the VM starts. */
export interface StartProgress {
  /** "launching", "booting", "engine" or "ready". */
  phase: string;
  message: string;
}

/** The `container-log` event while `follow_logs` runs. */
export interface ContainerLogLine {
  id: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

/**
 * The `container-stats` event while `follow_stats` runs: one sample a
 * second, counters as totals since the container started.
 */
export interface StatsSample {
  id: string;
  /** When the engine read it (Unix ms; 0 if unknown). */
  at: number;
  /** Percent of one CPU (up to 100 × CPUs), as `docker stats`. */
  cpuPercent: number;
  /** Bytes in use, page cache excluded. */
  memory: number;
  memoryLimit: number;
  netRx: number;
  netTx: number;
  blockRead: number;
  blockWrite: number;
}

/** The `terminal-output` event: text a terminal printed (ANSI included). */
export interface TerminalOutput {
  session: string;
  data: string;
}

/** The `terminal-exit` event: a terminal's shell ended. */
export interface TerminalExit {
  session: string;
  code: number | null;
}

/** One step of `image_history`, newest first. */
export interface ImageLayer {
  /** `sha256:…`, or `<missing>` for steps of pulled images. */
  id: string;
  /** Unix seconds. */
  created: number;
  /** `RUN apk add curl`, `CMD ["sh"]`, … */
  instruction: string;
  /** Bytes the step added (0: metadata only). */
  size: number;
  tags: string[];
  comment: string;
}

/** One entry of `list_files`. */
export interface FileEntry {
  name: string;
  kind: 'dir' | 'file' | 'link' | 'other';
  size: number;
  mode: number;
  /** Unix seconds. */
  modified: number;
  target: string | null;
}

/** A directory of a container, from the archive API. */
export interface FileListing {
  path: string;
  entries: FileEntry[];
  /** The archive was cut short (a huge tree): entries may be missing. */
  truncated: boolean;
}

/** The `pull-progress` event, one per layer update or status line. */
export interface PullProgress {
  reference: string;
  /** Short layer id; null for whole-image status lines. */
  layer: string | null;
  status: string;
  current: number | null;
  total: number | null;
}

/** The `pull-done` event that ends a `pull_image`. */
export interface PullDone {
  reference: string;
  error: string | null;
}

/** The argument of `build_image`. */
export interface BuildRequest {
  /** The UI's name for the build; its events carry it. */
  build: string;
  /** The folder sent as the context (absolute). */
  context: string;
  /** Relative to the folder; null: `Dockerfile`. */
  dockerfile: string | null;
  /** `name:tag`; null: untagged. */
  tag: string | null;
  /** KEY=VALUE entries (`--build-arg`). */
  buildArgs: string[];
}

/** The `build-log` event: one line of a build's output. */
export interface BuildLine {
  build: string;
  line: string;
}

/** The `build-done` event that ends a `build_image`. */
export interface BuildDone {
  build: string;
  /** The image built (`sha256:…`); null when it failed. */
  image: string | null;
  error: string | null;
}

/** The `push-progress` event, one per layer update or status line: the same shape as a pull's. */
export type PushProgress = PullProgress;

/** The `push-done` event that ends a `push_image`. */
export interface PushDone {
  reference: string;
  digest: string | null;
  error: string | null;
}

/** A folder of this computer, for the build dialog's picker. */
export interface FolderListing {
  path: string;
  /** Null at `/`. */
  parent: string | null;
  folders: string[];
  /** Dockerfile, Dockerfile.*, *.Dockerfile, Containerfile — Dockerfile first. */
  dockerfiles: string[];
}

/** A registry signed in to. */
export interface SignedIn {
  /** `https://index.docker.io/v1/` for Docker Hub, else `host[:port]`. */
  server: string;
  username: string | null;
  /** Where the secret is: "keychain", "session keyring", "helper <name>" or "config.json". */
  store: string;
}

/** The argument of `registry_sign_in`. */
export interface SignInRequest {
  /** Blank: Docker Hub. */
  server: string;
  username: string;
  password: string;
}

/** `machine_settings`: the machine's settings as the Settings view edits them. */
export interface MachineSettings {
  cpus: number;
  memoryMib: number;
  /** Fixed once the machine exists (a reset can change it). */
  diskGib: number;
  /** Shared folders, `HOST[:GUEST][:ro]`. */
  mounts: string[];
  /** No folders named: `mounts` are the defaults (the home folder). */
  defaultMounts: boolean;
  /** The host's logical CPUs. */
  hostCpus: number;
}

/** The argument of `apply_machine_settings` and `recreate_machine`, as typed. */
export interface SettingsChange {
  cpus: number;
  /** MiB, or with a unit: `4G`, `512M`. */
  memory: string;
  /** GiB, or with a unit: `100G`, `1T`. */
  disk: string;
  /** `HOST[:GUEST][:ro]` entries; null keeps the defaults, [] shares nothing. */
  mounts: string[] | null;
}

/** What `apply_machine_settings` did. */
export interface Applied {
  /** The VM was running and restarted to take the settings. */
  restarted: boolean;
  settings: MachineSettings;
}

/** `engine_log`: the engine's last lines and where they were read. */
export interface EngineLog {
  source: string;
  lines: string[];
}

/** A docker CLI context. */
export interface DockerContext {
  name: string;
  description: string;
  host: string;
}

/** `docker_contexts`: every context and the CLI's current one. */
export interface DockerContexts {
  contexts: DockerContext[];
  current: string;
  /** `DOCKER_CONTEXT=…` or `DOCKER_HOST=…` when the environment overrides the choice. */
  overriddenBy: string | null;
}

/** `autostart`: whether the app starts (in the tray) at login. */
export interface AutostartStatus {
  enabled: boolean;
  /** The file, LaunchAgent or registry key that records it. */
  location: string;
}

/** The `engine-event` event: one Docker events-API message. */
export interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  time: number;
  [key: string]: unknown;
}

/** Payload of every event, by event name. */
export interface EventMap {
  'container-log': ContainerLogLine;
  'container-stats': StatsSample;
  'terminal-output': TerminalOutput;
  'terminal-exit': TerminalExit;
  'pull-progress': PullProgress;
  'pull-done': PullDone;
  'build-log': BuildLine;
  'build-done': BuildDone;
  'push-progress': PushProgress;
  'push-done': PushDone;
  'machine-state': MachineInfo;
  'machine-progress': StartProgress;
  'engine-event': EngineEvent;
  'engine-state': EngineStatus;
}

/** Stops a subscription; safe to call more than once. */
export type Unsubscribe = () => void;

/**
 * A live event subscription: call it to stop. `ready` resolves once the
 * backend delivers the event to this handler, so a command whose events
 * must not be missed (follow_logs) is invoked after it.
 */
export type Subscription = Unsubscribe & { ready: Promise<void> };

/** How api.ts reaches a backend: Tauri's IPC, or the demo backend. */
export interface Transport {
  invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  listen<E extends keyof EventMap>(
    event: E,
    handler: (payload: EventMap[E]) => void,
  ): Promise<Unsubscribe>;
}

// ------------------------------------------------------------ transport

const tauriTransport: Transport = {
  invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
    if (!isTauri()) {
      return Promise.reject(
        new ApiError('no-backend', 'The Skiff backend is only available inside the Skiff desktop app.'),
      );
    }
    return tauriInvoke<T>(cmd, args);
  },
  async listen(event, handler) {
    if (!isTauri()) return () => {};
    return tauriListen(event, (e) => handler(e.payload as never));
  },
};

/** Demo backend: only in dev servers and `--mode demo` builds, and never inside Tauri. */
function wantsDemo(): boolean {
  if (import.meta.env.VITE_SKIFF_DEMO === '1') return !isTauri();
  if (import.meta.env.DEV) return !isTauri() && import.meta.env.MODE !== 'test';
  return false;
}

let transport: Promise<Transport> | null = null;

function getTransport(): Promise<Transport> {
  if (!transport) {
    if ((import.meta.env.DEV || import.meta.env.VITE_SKIFF_DEMO === '1') && wantsDemo()) {
      transport = import('./demo').then((m) => m.createDemoTransport());
    } else {
      transport = Promise.resolve(tauriTransport);
    }
  }
  return transport;
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  const t = await getTransport();
  try {
    return await t.invoke<T>(cmd, args);
  } catch (err) {
    throw toApiError(err);
  }
}

function subscribe<E extends keyof EventMap>(
  event: E,
  handler: (payload: EventMap[E]) => void,
): Subscription {
  let stopped = false;
  let unlisten: Unsubscribe | null = null;
  const ready = getTransport()
    .then((t) => t.listen(event, handler))
    .then((u) => {
      if (stopped) u();
      else unlisten = u;
    })
    .catch((err) => console.error(`listen ${event}:`, err));
  const stop = () => {
    stopped = true;
    unlisten?.();
    unlisten = null;
  };
  return Object.assign(stop, { ready });
}

// ------------------------------------------------------------- commands

/** Whether the engine answers, and where it is expected. */
export const engineStatus = () => call<EngineStatus>('engine_status');

/** Every container, running or not. */
export const listContainers = () => call<ContainerSummary[]>('list_containers');

/** Starts, stops, restarts or removes (forcefully) a container. */
export const containerAction = (id: string, action: ContainerAction) =>
  call<null>('container_action', { id, action });

/** Starts, stops, restarts or removes every container of a compose project. */
export const projectAction = (project: string, action: ContainerAction) =>
  call<null>('project_action', { project, action });

/** Opens http://localhost:PORT in the default browser. */
export const openPort = (port: number) => call<null>('open_port', { port });

/** `docker inspect` of a container, as JSON. */
export const inspectContainer = (id: string) => call<unknown>('inspect_container', { id });

/** Starts streaming a container's logs as `container-log` events. */
export const followLogs = (id: string) => call<null>('follow_logs', { id });

/** Stops the stream started by `followLogs`. */
export const stopLogs = (id: string) => call<null>('stop_logs', { id });

/** Starts `container-stats` events for a container (a sample a second). */
export const followStats = (id: string) => call<null>('follow_stats', { id });

/** Stops the stream started by `followStats`. */
export const stopStats = (id: string) => call<null>('stop_stats', { id });

/** `docker exec -it <id> <shell>`: returns the terminal session. */
export const terminalOpen = (id: string, shell: string, cols: number, rows: number) =>
  call<string>('terminal_open', { id, shell, cols, rows });

/** Types into a terminal. */
export const terminalInput = (session: string, data: string) =>
  call<null>('terminal_input', { session, data });

/** Resizes a terminal's TTY. */
export const terminalResize = (session: string, cols: number, rows: number) =>
  call<null>('terminal_resize', { session, cols, rows });

/** Closes a terminal (its shell sees the end of input). */
export const terminalClose = (session: string) => call<null>('terminal_close', { session });

/** A directory of a container (through the archive API). */
export const listFiles = (id: string, path: string) => call<FileListing>('list_files', { id, path });

/** Saves a container's file into Downloads; returns where. */
export const downloadFile = (id: string, path: string) => call<string>('download_file', { id, path });

/** An image's layers, newest first (`docker history`). */
export const imageHistory = (reference: string) => call<ImageLayer[]>('image_history', { reference });

/** Every image. */
export const listImages = () => call<ImageSummary[]>('list_images');

/** Pulls an image; progress arrives as `pull-progress`, the end as `pull-done`. */
export const pullImage = (reference: string) => call<null>('pull_image', { reference });

/** Removes an image; `force` also removes it when containers use it. */
export const removeImage = (id: string, force: boolean) =>
  call<null>('remove_image', { id, force });

/** Creates and starts a container; resolves to its id. */
export const runContainer = (request: RunRequest) => call<string>('run_container', { request });

/** Every volume, with the containers that mount it. */
export const listVolumes = () => call<VolumeSummary[]>('list_volumes');

/** Creates a volume; resolves to its name. */
export const createVolume = (request: CreateVolumeRequest) =>
  call<string>('create_volume', { request });

/** Removes a volume; `force` as `docker volume rm -f`. */
export const removeVolume = (name: string, force: boolean) =>
  call<null>('remove_volume', { name, force });

/** Removes unused volumes; `all` also named ones (else anonymous only). */
export const pruneVolumes = (all: boolean) => call<PruneResult>('prune_volumes', { all });

/** Every network, with its containers and their addresses. */
export const listNetworks = () => call<NetworkSummary[]>('list_networks');

/** Creates a network; resolves to its id. */
export const createNetwork = (request: CreateNetworkRequest) =>
  call<string>('create_network', { request });

/** Removes a network (by id or name). */
export const removeNetwork = (id: string) => call<null>('remove_network', { id });

/** The VM, or null where the engine runs without one. */
export const machineInfo = () => call<MachineInfo | null>('machine_info');

/** Starts the VM; progress arrives as `machine-progress` events. */
export const machineStart = () => call<null>('machine_start');

/** Stops the VM. */
export const machineStop = () => call<null>('machine_stop');

/** The last `lines` lines of the VM's serial console. */
export const machineConsole = (lines: number) => call<string[]>('machine_console', { lines });

/** What the page kept with `saveViewState` (null at first): a re-created window restores it. */
export const viewState = () => call<unknown>('view_state');

/** Keeps a small JSON value in the app for the next page of the main window. */
export const saveViewState = (state: unknown) => call<null>('save_view_state', { state });

/** Sub-folders and Dockerfiles of a folder of this computer (blank: home). */
export const listFolder = (path: string) => call<FolderListing>('list_folder', { path });

/** Builds an image from a folder; lines arrive as `build-log`, the end as `build-done`. */
export const buildImage = (request: BuildRequest) => call<string>('build_image', { request });

/** Pushes an image; progress arrives as `push-progress`, the end as `push-done`. */
export const pushImage = (reference: string) => call<string>('push_image', { reference });

/** The tags the registry of a repository lists, newest version first. */
export const registryTags = (repository: string) => call<string[]>('registry_tags', { repository });

/** Signs in (checked by the engine, stored where the docker CLI finds it). */
export const registrySignIn = (request: SignInRequest) =>
  call<SignedIn>('registry_sign_in', { request });

/** Signs out of a registry. */
export const registrySignOut = (server: string) => call<null>('registry_sign_out', { server });

/** The registries signed in to. */
export const listRegistries = () => call<SignedIn[]>('list_registries');

/** The machine's settings, or null before the machine exists. */
export const machineSettings = () => call<MachineSettings | null>('machine_settings');

/** Checks and saves settings; a running VM restarts (`machine-progress` events). */
export const applyMachineSettings = (change: SettingsChange) =>
  call<Applied>('apply_machine_settings', { change });

/** Deletes the machine with everything in it and creates it again; true when restarted. */
export const recreateMachine = (change: SettingsChange) => call<boolean>('recreate_machine', { change });

/** Restarts the engine (the VM it runs in). */
export const restartEngine = () => call<null>('restart_engine');

/** The engine's last `lines` log lines. */
export const engineLog = (lines: number) => call<EngineLog>('engine_log', { lines });

/** The docker CLI's contexts. */
export const dockerContexts = () => call<DockerContexts>('docker_contexts');

/** Makes `name` the docker CLI's current context. */
export const useDockerContext = (name: string) => call<DockerContexts>('use_docker_context', { name });

/** Whether the app starts at login. */
export const autostart = () => call<AutostartStatus>('autostart');

/** Turns start at login on or off. */
export const setAutostart = (enabled: boolean) => call<AutostartStatus>('set_autostart', { enabled });

// --------------------------------------------------------------- events

/** Log lines of containers being followed. */
export const onContainerLog = (h: (p: ContainerLogLine) => void) => subscribe('container-log', h);

/** Stats samples of containers being followed. */
export const onContainerStats = (h: (p: StatsSample) => void) => subscribe('container-stats', h);

/** Terminal output. */
export const onTerminalOutput = (h: (p: TerminalOutput) => void) => subscribe('terminal-output', h);

/** A terminal's end. */
export const onTerminalExit = (h: (p: TerminalExit) => void) => subscribe('terminal-exit', h);

/** Per-layer pull progress. */
export const onPullProgress = (h: (p: PullProgress) => void) => subscribe('pull-progress', h);

/** End of a pull. */
export const onPullDone = (h: (p: PullDone) => void) => subscribe('pull-done', h);

/** A line of a build's output. */
export const onBuildLog = (h: (p: BuildLine) => void) => subscribe('build-log', h);

/** End of a build. */
export const onBuildDone = (h: (p: BuildDone) => void) => subscribe('build-done', h);

/** Per-layer push progress. */
export const onPushProgress = (h: (p: PushProgress) => void) => subscribe('push-progress', h);

/** End of a push. */
export const onPushDone = (h: (p: PushDone) => void) => subscribe('push-done', h);

/** The VM changed state. */
export const onMachineState = (h: (p: MachineInfo) => void) => subscribe('machine-state', h);

/** The VM moved on while starting. */
export const onMachineProgress = (h: (p: StartProgress) => void) =>
  subscribe('machine-progress', h);

/** Docker events from the engine. */
export const onEngineEvent = (h: (p: EngineEvent) => void) => subscribe('engine-event', h);

/** The engine became reachable or unreachable. */
export const onEngineState = (h: (p: EngineStatus) => void) => subscribe('engine-state', h);
