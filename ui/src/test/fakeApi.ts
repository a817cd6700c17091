/**
 * Stand-in for `src/lib/api.ts` in component tests (see setup.ts): every
 * command is a `vi.fn` with a sensible default, every event subscription is
 * recorded so a test can `emit` backend events.
 */
import { vi } from 'vitest';
import type {
  ContainerSummary,
  EngineStatus,
  EventMap,
  FileListing,
  ImageLayer,
  ImageSummary,
  MachineInfo,
  NetworkSummary,
  PruneResult,
  RunRequest,
  VolumeSummary,
  CreateNetworkRequest,
  CreateVolumeRequest,
  Subscription,
  BuildRequest,
  FolderListing,
  SignedIn,
  SignInRequest,
  MachineSettings,
  SettingsChange,
  Applied,
  EngineLog,
  DockerContexts,
  AutostartStatus,
} from '../lib/api';

export { ApiError } from '../lib/errors';

type AnyHandler = (payload: never) => void;
const handlers = new Map<keyof EventMap, Set<AnyHandler>>();

/** Delivers an event to every current subscriber, as the backend would. */
export function emit<E extends keyof EventMap>(event: E, payload: EventMap[E]): void {
  for (const h of [...(handlers.get(event) ?? [])]) (h as (p: EventMap[E]) => void)(payload);
}

/** How many subscribers an event has now. */
export function listenerCount(event: keyof EventMap): number {
  return handlers.get(event)?.size ?? 0;
}

function subscription<E extends keyof EventMap>(event: E) {
  return vi.fn((h: (p: EventMap[E]) => void): Subscription => {
    let set = handlers.get(event);
    if (!set) handlers.set(event, (set = new Set()));
    set.add(h as AnyHandler);
    return Object.assign(() => void set.delete(h as AnyHandler), { ready: Promise.resolve() });
  });
}

export const ENDPOINT = 'unix:///root/.skiff/machines/default/docker.sock';

export const reachable = (): EngineStatus => ({ reachable: true, endpoint: ENDPOINT, version: '0.4.0', error: null });

export const unreachable = (): EngineStatus => ({
  reachable: false,
  endpoint: ENDPOINT,
  version: null,
  error: 'connect: connection refused',
});

export const machineRunning = (): MachineInfo => ({
  name: 'default',
  state: 'running',
  reason: null,
  cpus: 2,
  memory_mib: 2048,
  disk_gib: 32,
  socket: '/root/.skiff/machines/default/docker.sock',
});

/** A container row; `over` replaces fields. */
export function container(over: Partial<ContainerSummary> = {}): ContainerSummary {
  return {
    id: 'c0ffee0000000000000000000000000000000000000000000000000000000001',
    name: 'web',
    image: 'nginx:1.27',
    state: 'running',
    status: 'Up 5 minutes',
    created: Math.floor(Date.now() / 1000) - 300,
    ports: '0.0.0.0:8080->80/tcp',
    published: [8080],
    project: null,
    service: null,
    health: null,
    ...over,
  };
}

/** An image row; `over` replaces fields. */
export function image(over: Partial<ImageSummary> = {}): ImageSummary {
  return {
    id: 'sha256:aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44',
    repoTags: ['alpine:3.20'],
    size: 7_800_000,
    created: Math.floor(Date.now() / 1000) - 86400 * 3,
    inUse: false,
    ...over,
  };
}

/** A volume row; `over` replaces fields. */
export function volume(over: Partial<VolumeSummary> = {}): VolumeSummary {
  return {
    name: 'app-data',
    driver: 'local',
    mountpoint: '/var/lib/skiff/volumes/app-data/_data',
    created: new Date(Date.now() - 3600_000).toISOString(),
    usedBy: [],
    labels: {},
    ...over,
  };
}

/** A network row; `over` replaces fields. */
export function network(over: Partial<NetworkSummary> = {}): NetworkSummary {
  return {
    id: 'ne70000000000000000000000000000000000000000000000000000000000001',
    name: 'app-net',
    driver: 'bridge',
    subnets: ['172.18.0.0/16'],
    gateways: ['172.18.0.1'],
    internal: false,
    created: new Date(Date.now() - 7200_000).toISOString(),
    predefined: false,
    containers: [],
    labels: {},
    ...over,
  };
}

export const engineStatus = vi.fn<() => Promise<EngineStatus>>();
export const listContainers = vi.fn<() => Promise<ContainerSummary[]>>();
export const containerAction = vi.fn<(id: string, action: string) => Promise<null>>();
export const projectAction = vi.fn<(project: string, action: string) => Promise<null>>();
export const openPort = vi.fn<(port: number) => Promise<null>>();
export const inspectContainer = vi.fn<(id: string) => Promise<unknown>>();
export const followLogs = vi.fn<(id: string) => Promise<null>>();
export const stopLogs = vi.fn<(id: string) => Promise<null>>();
export const followStats = vi.fn<(id: string) => Promise<null>>();
export const stopStats = vi.fn<(id: string) => Promise<null>>();
export const terminalOpen = vi.fn<(id: string, shell: string, cols: number, rows: number) => Promise<string>>();
export const terminalInput = vi.fn<(session: string, data: string) => Promise<null>>();
export const terminalResize = vi.fn<(session: string, cols: number, rows: number) => Promise<null>>();
export const terminalClose = vi.fn<(session: string) => Promise<null>>();
export const imageHistory = vi.fn<(reference: string) => Promise<ImageLayer[]>>();
export const listFiles = vi.fn<(id: string, path: string) => Promise<FileListing>>();
export const downloadFile = vi.fn<(id: string, path: string) => Promise<string>>();
export const listImages = vi.fn<() => Promise<ImageSummary[]>>();
export const pullImage = vi.fn<(reference: string) => Promise<null>>();
export const removeImage = vi.fn<(id: string, force: boolean) => Promise<null>>();
export const runContainer = vi.fn<(request: RunRequest) => Promise<string>>();
export const machineInfo = vi.fn<() => Promise<MachineInfo | null>>();
export const machineStart = vi.fn<() => Promise<null>>();
export const machineStop = vi.fn<() => Promise<null>>();
export const machineConsole = vi.fn<(lines: number) => Promise<string[]>>();

export const listVolumes = vi.fn<() => Promise<VolumeSummary[]>>();
export const createVolume = vi.fn<(request: CreateVolumeRequest) => Promise<string>>();
export const removeVolume = vi.fn<(name: string, force: boolean) => Promise<null>>();
export const pruneVolumes = vi.fn<(all: boolean) => Promise<PruneResult>>();
export const listNetworks = vi.fn<() => Promise<NetworkSummary[]>>();
export const createNetwork = vi.fn<(request: CreateNetworkRequest) => Promise<string>>();
export const removeNetwork = vi.fn<(id: string) => Promise<null>>();
export const viewState = vi.fn<() => Promise<unknown>>();
export const saveViewState = vi.fn<(state: unknown) => Promise<null>>();

export const listFolder = vi.fn<(path: string) => Promise<FolderListing>>();
export const buildImage = vi.fn<(request: BuildRequest) => Promise<string>>();
export const pushImage = vi.fn<(reference: string) => Promise<string>>();
export const registryTags = vi.fn<(repository: string) => Promise<string[]>>();
export const registrySignIn = vi.fn<(request: SignInRequest) => Promise<SignedIn>>();
export const registrySignOut = vi.fn<(server: string) => Promise<null>>();
export const listRegistries = vi.fn<() => Promise<SignedIn[]>>();

export const machineSettings = vi.fn<() => Promise<MachineSettings | null>>();
export const applyMachineSettings = vi.fn<(change: SettingsChange) => Promise<Applied>>();
export const recreateMachine = vi.fn<(change: SettingsChange) => Promise<boolean>>();
export const restartEngine = vi.fn<() => Promise<null>>();
export const engineLog = vi.fn<(lines: number) => Promise<EngineLog>>();
export const dockerContexts = vi.fn<() => Promise<DockerContexts>>();
export const useDockerContext = vi.fn<(name: string) => Promise<DockerContexts>>();
export const autostart = vi.fn<() => Promise<AutostartStatus>>();
export const setAutostart = vi.fn<(enabled: boolean) => Promise<AutostartStatus>>();

export const settingsOf = (): MachineSettings => ({
  cpus: 2,
  memoryMib: 2048,
  diskGib: 32,
  mounts: ['/root'],
  defaultMounts: true,
  hostCpus: 8,
});

export const contextsOf = (current = 'skiff'): DockerContexts => ({
  contexts: [
    { name: 'default', description: 'Current DOCKER_HOST based configuration', host: 'unix:///var/run/docker.sock' },
    { name: 'skiff', description: 'Skiff machine default', host: 'unix:///root/.skiff/machines/default/docker.sock' },
  ],
  current,
  overriddenBy: null,
});

export const onContainerLog = subscription('container-log');
export const onBuildLog = subscription('build-log');
export const onBuildDone = subscription('build-done');
export const onPushProgress = subscription('push-progress');
export const onPushDone = subscription('push-done');
export const onContainerStats = subscription('container-stats');
export const onTerminalOutput = subscription('terminal-output');
export const onTerminalExit = subscription('terminal-exit');
export const onPullProgress = subscription('pull-progress');
export const onPullDone = subscription('pull-done');
export const onMachineState = subscription('machine-state');
export const onMachineProgress = subscription('machine-progress');
export const onEngineEvent = subscription('engine-event');
export const onEngineState = subscription('engine-state');

/** Forgets every call and subscriber and restores the default answers. */
export function resetFake(): void {
  handlers.clear();
  for (const f of [onBuildLog, onBuildDone, onPushProgress, onPushDone, onContainerLog, onContainerStats, onTerminalOutput, onTerminalExit, onPullProgress, onPullDone, onMachineState, onMachineProgress, onEngineEvent, onEngineState]) {
    f.mockClear();
  }
  engineStatus.mockReset().mockResolvedValue(reachable());
  listContainers.mockReset().mockResolvedValue([]);
  containerAction.mockReset().mockResolvedValue(null);
  projectAction.mockReset().mockResolvedValue(null);
  openPort.mockReset().mockResolvedValue(null);
  inspectContainer.mockReset().mockResolvedValue({ Id: 'x' });
  followLogs.mockReset().mockResolvedValue(null);
  stopLogs.mockReset().mockResolvedValue(null);
  followStats.mockReset().mockResolvedValue(null);
  stopStats.mockReset().mockResolvedValue(null);
  terminalOpen.mockReset().mockResolvedValue('e7ec0000000000000000000000000000000000000000000000000000000000e1');
  terminalInput.mockReset().mockResolvedValue(null);
  terminalResize.mockReset().mockResolvedValue(null);
  terminalClose.mockReset().mockResolvedValue(null);
  imageHistory.mockReset().mockResolvedValue([]);
  listFiles.mockReset().mockImplementation(async (_id, path) => ({ path, entries: [], truncated: false }));
  downloadFile.mockReset().mockImplementation(async (_id, path) => `/home/user/Downloads/${path.split('/').pop()}`);
  listImages.mockReset().mockResolvedValue([]);
  pullImage.mockReset().mockResolvedValue(null);
  removeImage.mockReset().mockResolvedValue(null);
  runContainer.mockReset().mockResolvedValue('new0000000000000000000000000000000000000000000000000000000000001');
  machineInfo.mockReset().mockResolvedValue(machineRunning());
  machineStart.mockReset().mockResolvedValue(null);
  machineStop.mockReset().mockResolvedValue(null);
  machineConsole.mockReset().mockResolvedValue([]);
  listVolumes.mockReset().mockResolvedValue([]);
  createVolume.mockReset().mockImplementation(async (r) => r.name ?? 'f00d'.repeat(16));
  removeVolume.mockReset().mockResolvedValue(null);
  pruneVolumes.mockReset().mockResolvedValue({ removed: [], spaceReclaimed: 0 });
  listNetworks.mockReset().mockResolvedValue([]);
  createNetwork.mockReset().mockResolvedValue('ne70000000000000000000000000000000000000000000000000000000000002');
  removeNetwork.mockReset().mockResolvedValue(null);
  viewState.mockReset().mockResolvedValue(null);
  machineSettings.mockReset().mockResolvedValue(settingsOf());
  applyMachineSettings.mockReset().mockImplementation(async (c) => ({
    restarted: false,
    settings: { ...settingsOf(), cpus: c.cpus },
  }));
  recreateMachine.mockReset().mockResolvedValue(false);
  restartEngine.mockReset().mockResolvedValue(null);
  engineLog.mockReset().mockResolvedValue({ source: "skiffd's lines of the machine's console", lines: [] });
  dockerContexts.mockReset().mockResolvedValue(contextsOf());
  useDockerContext.mockReset().mockImplementation(async (name) => contextsOf(name));
  autostart.mockReset().mockResolvedValue({ enabled: false, location: '/root/.config/autostart/skiff-desktop.desktop' });
  setAutostart.mockReset().mockImplementation(async (enabled) => ({
    enabled,
    location: '/root/.config/autostart/skiff-desktop.desktop',
  }));
  saveViewState.mockReset().mockResolvedValue(null);
  listFolder.mockReset().mockImplementation(async (path) => ({
    path: path || '/home/user',
    parent: '/home',
    folders: [],
    dockerfiles: [],
  }));
  buildImage.mockReset().mockResolvedValue('sha256:b111d000000000000000000000000000000000000000000000000000000000001');
  pushImage.mockReset().mockResolvedValue('sha256:9e5h000000000000000000000000000000000000000000000000000000000001');
  registryTags.mockReset().mockResolvedValue([]);
  registrySignIn.mockReset().mockImplementation(async (r) => ({ server: r.server || 'https://index.docker.io/v1/', username: r.username, store: 'keychain' }));
  registrySignOut.mockReset().mockResolvedValue(null);
  listRegistries.mockReset().mockResolvedValue([]);
}
