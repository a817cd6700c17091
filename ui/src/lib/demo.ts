/**
 * An in-browser stand-in for the Skiff backend, for `npm run dev` and
 * `npm run build:demo` outside Tauri (never part of `npm run build`). It keeps
 * a small world of containers, images and a VM, answers every command of the
 * contract and emits the events the real backend would.
 *
 * URL parameters set up a scene (for screenshots):
 *   ?view=containers|images|volumes|networks|machine|settings|troubleshoot  open a view
 *   ?details=<name>&tab=logs|stats|terminal|files|inspect  open a container's details
 *   ?layers=<image>                   show an image's layers
 *   ?pull=<ref>                       start a pull
 *   ?run=<image>                      open the Run dialog of an image
 *   ?confirm=<name>                   ask to remove a (running) container
 *   ?select=<name,name>               tick containers' checkboxes
 *   ?unreachable                      engine down, VM stopped
 *   ?starting                         engine down, VM starting
 *   ?broken                           VM broken
 *   ?empty                            no containers, no images
 *   ?build, ?push=<ref>, ?tags=<repo> builds, pushes, the tag picker (demoBuild.ts)
 */
import type {
  ContainerSummary,
  EngineStatus,
  EventMap,
  ImageSummary,
  MachineInfo,
  NetworkSummary,
  VolumeSummary,
  RunRequest,
  BuildRequest,
  SignInRequest,
  SettingsChange,
  Transport,
  Unsubscribe,
} from './api';
import { DemoShell, demoFiles, demoHistory, demoStats } from './demoDetail';
import { DemoRegistries, demoBuild, demoFolder, demoPush, demoScenes, demoTags } from './demoBuild';
import { DemoSettings } from './demoSettings';

type Handler = (payload: never) => void;

const now = () => Math.floor(Date.now() / 1000);
const hex = (n: number) =>
  Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class DemoBackend implements Transport {
  #handlers = new Map<string, Set<Handler>>();
  #following = new Map<string, ReturnType<typeof setInterval>>();
  #stats = new Map<string, () => void>();
  #shells = new Map<string, DemoShell>();
  #params = new URLSearchParams(location.search);
  #engine: EngineStatus;
  #machine: MachineInfo;
  #containers: ContainerSummary[];
  #images: ImageSummary[];
  #console: string[] = [];
  #viewState: unknown = null;
  #volumes: VolumeSummary[] = [];
  #networks: NetworkSummary[] = [];
  #registries = new DemoRegistries();
  #settings = new DemoSettings();

  constructor() {
    const p = this.#params;
    const down = p.has('unreachable') || p.has('starting') || p.has('broken');
    this.#engine = {
      reachable: !down,
      endpoint: 'unix:///home/alex/.skiff/machines/default/docker.sock',
      version: down ? null : '0.4.0',
      error: down ? 'connect: no such file or directory (os error 2)' : null,
    };
    this.#machine = {
      name: 'default',
      state: p.has('starting') ? 'starting' : p.has('broken') ? 'broken' : down ? 'stopped' : 'running',
      reason: p.has('broken') ? 'qemu exited with status 1: could not open disk.img: Permission denied' : null,
      cpus: 4,
      memory_mib: 4096,
      disk_gib: 64,
      socket: '/home/alex/.skiff/machines/default/docker.sock',
    };
    const t = now();
    this.#images = p.has('empty')
      ? []
      : [
          this.#image(['nginx:1.27'], 192_600_000, t - 86400 * 12, true),
          this.#image(['postgres:16'], 438_200_000, t - 86400 * 20, true),
          this.#image(['redis:7-alpine'], 41_400_000, t - 86400 * 9, true),
          this.#image(['ghcr.io/acme/worker:2.3.1'], 87_300_000, t - 3600 * 5, true),
          this.#image(['alpine:3.20', 'alpine:latest'], 7_800_000, t - 86400 * 40, false),
          this.#image(['busybox:latest'], 4_270_000, t - 86400 * 70, true),
          this.#image(['hello-world:latest'], 13_256, t - 86400 * 200, true),
          this.#image([], 121_000_000, t - 86400 * 3, false),
        ];
    this.#containers = p.has('empty')
      ? []
      : [
          this.#container('shop-web-1', 'nginx:1.27', 'running', 'Up 2 hours (healthy)', t - 7300, '0.0.0.0:8080->80/tcp', 'shop', 'healthy'),
          this.#container('shop-db-1', 'postgres:16', 'running', 'Up 2 hours (healthy)', t - 7400, '127.0.0.1:5432->5432/tcp', 'shop', 'healthy'),
          this.#container('shop-cache-1', 'redis:7-alpine', 'running', 'Up 47 minutes', t - 2900, '6379/tcp', 'shop'),
          this.#container('worker', 'ghcr.io/acme/worker:2.3.1', 'exited', 'Exited (0) 12 minutes ago', t - 5000, ''),
          this.#container('migrate', 'ghcr.io/acme/worker:2.3.1', 'exited', 'Exited (1) 3 hours ago', t - 11000, ''),
          this.#container('hello', 'hello-world:latest', 'exited', 'Exited (0) 2 days ago', t - 86400 * 2, ''),
          this.#container('sleepy_turing', 'busybox:latest', 'created', 'Created', t - 86400 * 5, ''),
        ];
    if (!p.has('empty')) {
      const ago = (s: number) => new Date((t - s) * 1000).toISOString();
      const vol = (name: string, usedBy: string[], age: number): VolumeSummary => ({
        name,
        driver: 'local',
        mountpoint: `/var/lib/skiff/volumes/${name}/_data`,
        created: ago(age),
        usedBy,
        labels: {},
      });
      this.#volumes = [
        vol('shop_db-data', ['shop-db-1'], 86400 * 6),
        vol('shop_cache', ['shop-cache-1'], 86400 * 6),
        vol('worker-scratch', [], 3600 * 5),
        vol(hex(64), [], 86400 * 2),
      ];
      const net = (name: string, driver: string, subnet: string | null, containers: [string, string][], age: number) => ({
        id: hex(64),
        name,
        driver,
        subnets: subnet ? [subnet] : [],
        gateways: subnet ? [subnet.replace(/0\/\d+$/, '1')] : [],
        internal: false,
        created: ago(age),
        predefined: ['bridge', 'host', 'none'].includes(name),
        containers: containers.map(([n, ip]) => ({ name: n, id: hex(64), ipv4: ip, ipv6: '' })),
        labels: {},
      });
      this.#networks = [
        net('bridge', 'bridge', '172.17.0.0/16', [], 86400 * 30),
        net('host', 'host', null, [], 86400 * 30),
        net('none', 'null', null, [], 86400 * 30),
        net('shop_default', 'bridge', '172.18.0.0/16', [
          ['shop-cache-1', '172.18.0.4/16'],
          ['shop-db-1', '172.18.0.2/16'],
          ['shop-web-1', '172.18.0.3/16'],
        ], 86400 * 6),
      ].sort((a, b) => a.name.localeCompare(b.name));
    }
    this.#console = bootLog();
    if (this.#machine.state === 'starting') {
      this.#console = this.#console.slice(0, 9);
      setTimeout(() => this.#emit('machine-progress', { phase: 'booting', message: 'Booting the Linux kernel…' }), 50);
    }
    if (down) this.#console = this.#machine.state === 'stopped' ? [...this.#console, 'skiff-init: powered off'] : this.#console;
    void this.#script();
  }

  #image(repoTags: string[], size: number, created: number, inUse: boolean): ImageSummary {
    return { id: `sha256:${hex(64)}`, repoTags, size, created, inUse };
  }

  #container(
    name: string,
    image: string,
    state: string,
    status: string,
    created: number,
    ports: string,
    project: string | null = null,
    health: string | null = null,
  ): ContainerSummary {
    const published = [...ports.matchAll(/:(\d+)->\d+\/tcp/g)].map((m) => Number(m[1]));
    const service = project ? name.replace(`${project}-`, '').replace(/-\d+$/, '') : null;
    return { id: hex(64), name, image, state, status, created, ports, published, project, service, health };
  }

  // -------------------------------------------------------------- transport

  async listen<E extends keyof EventMap>(event: E, handler: (payload: EventMap[E]) => void): Promise<Unsubscribe> {
    let set = this.#handlers.get(event);
    if (!set) this.#handlers.set(event, (set = new Set()));
    set.add(handler as Handler);
    return () => set.delete(handler as Handler);
  }

  #emit<E extends keyof EventMap>(event: E, payload: EventMap[E]): void {
    for (const h of this.#handlers.get(event) ?? []) (h as (p: EventMap[E]) => void)(payload);
  }

  #engineEvent(type: string, action: string, id: string, attributes: Record<string, string> = {}) {
    this.#emit('engine-event', { Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, time: now() });
  }

  async invoke<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    await sleep(60);
    return (await this.#dispatch(cmd, args)) as T;
  }

  #needEngine(): void {
    if (!this.#engine.reachable) throw { kind: 'engine', message: `cannot reach the engine at ${this.#engine.endpoint}` };
  }

  #find(id: string): ContainerSummary {
    const c = this.#containers.find((c) => c.id === id || c.name === id);
    if (!c) throw { kind: 'not-found', message: `no such container: ${id}` };
    return c;
  }

  async #dispatch(cmd: string, a: Record<string, unknown>): Promise<unknown> {
    switch (cmd) {
      case 'engine_status':
        return { ...this.#engine };
      case 'list_containers':
        this.#needEngine();
        return this.#containers.map((c) => ({ ...c }));
      case 'list_images':
        this.#needEngine();
        return this.#images.map((i) => ({ ...i, repoTags: [...i.repoTags] }));
      case 'container_action':
        this.#needEngine();
        return this.#action(String(a.id), String(a.action));
      case 'project_action': {
        this.#needEngine();
        const members = this.#containers.filter((c) => c.project === a.project);
        if (members.length === 0) throw { kind: 'invalid_request', message: `no container belongs to the compose project ${String(a.project)}` };
        for (const c of members) await this.#action(c.id, String(a.action));
        return null;
      }
      case 'open_port':
        window.open(`http://localhost:${Number(a.port)}`, '_blank');
        return null;
      case 'inspect_container':
        this.#needEngine();
        return inspectOf(this.#find(String(a.id)));
      case 'follow_logs':
        this.#needEngine();
        return this.#follow(this.#find(String(a.id)));
      case 'stop_logs': {
        const timer = this.#following.get(String(a.id));
        if (timer) clearInterval(timer);
        this.#following.delete(String(a.id));
        return null;
      }
      case 'follow_stats': {
        this.#needEngine();
        const c = this.#find(String(a.id));
        this.#stats.get(c.id)?.();
        this.#stats.set(c.id, demoStats(String(a.id), (e, p) => setTimeout(() => this.#emit(e, p as never), 0)));
        return null;
      }
      case 'stop_stats': {
        const c = this.#containers.find((c) => c.id === a.id || c.name === a.id);
        if (c) this.#stats.get(c.id)?.();
        if (c) this.#stats.delete(c.id);
        return null;
      }
      case 'terminal_open': {
        this.#needEngine();
        const c = this.#find(String(a.id));
        if (c.state !== 'running') throw { kind: 'conflict', message: `container ${c.id} is not running` };
        const session = hex(64);
        const shell = new DemoShell(session, c.id.slice(0, 12), (e, p) => this.#emit(e, p as never));
        this.#shells.set(session, shell);
        // The terminal scene shows a few commands typed.
        if (this.#params.get('tab') === 'terminal') {
          setTimeout(() => shell.input('ls /usr/share/nginx/html\recho "hello from $(hostname)"\rnginx -v\r'), 200);
        }
        return session;
      }
      case 'terminal_input':
        this.#shells.get(String(a.session))?.input(String(a.data));
        return null;
      case 'terminal_resize':
        return null;
      case 'terminal_close':
        this.#shells.delete(String(a.session));
        return null;
      case 'list_files':
        this.#needEngine();
        return demoFiles(String(a.path));
      case 'download_file':
        return `/home/alex/Downloads/${String(a.path).split('/').pop()}`;
      case 'image_history':
        this.#needEngine();
        return demoHistory(String(a.reference));
      case 'pull_image':
        this.#needEngine();
        void this.#pull(String(a.reference));
        return null;
      case 'remove_image': {
        this.#needEngine();
        const img = this.#images.find((i) => i.id === a.id);
        if (!img) throw { kind: 'not-found', message: `no such image: ${String(a.id)}` };
        if (img.inUse && !a.force) {
          throw { kind: 'conflict', message: `image ${img.repoTags[0] ?? img.id.slice(7, 19)} is in use by a container` };
        }
        this.#images = this.#images.filter((i) => i !== img);
        this.#engineEvent('image', 'delete', img.id);
        return null;
      }
      case 'run_container':
        this.#needEngine();
        return this.#run(a.request as RunRequest);
      case 'machine_info':
        return { ...this.#machine };
      case 'machine_start':
        return this.#machineStart();
      case 'machine_stop':
        return this.#machineStop();
      case 'machine_console':
        return this.#console.slice(-Number(a.lines ?? 100));
      case 'list_volumes':
        this.#needEngine();
        return this.#volumes.map((v) => ({ ...v, usedBy: [...v.usedBy] }));
      case 'create_volume': {
        this.#needEngine();
        const r = a.request as { name: string | null; driver: string | null };
        const name = r.name ?? hex(64);
        if (this.#volumes.some((v) => v.name === name)) return name;
        this.#volumes.push({ name, driver: r.driver ?? 'local', mountpoint: `/var/lib/skiff/volumes/${name}/_data`, created: new Date().toISOString(), usedBy: [], labels: {} });
        this.#volumes.sort((x, y) => x.name.localeCompare(y.name));
        this.#engineEvent('volume', 'create', name);
        return name;
      }
      case 'remove_volume': {
        this.#needEngine();
        const v = this.#volumes.find((x) => x.name === a.name);
        if (!v) throw { kind: 'not_found', message: `get ${String(a.name)}: no such volume` };
        if (v.usedBy.length) throw { kind: 'conflict', message: `remove ${v.name}: volume is in use - [${v.usedBy.join(', ')}]` };
        this.#volumes = this.#volumes.filter((x) => x !== v);
        this.#engineEvent('volume', 'destroy', v.name);
        return null;
      }
      case 'prune_volumes': {
        this.#needEngine();
        const gone = this.#volumes.filter((v) => !v.usedBy.length && (a.all || /^[0-9a-f]{64}$/.test(v.name)));
        this.#volumes = this.#volumes.filter((v) => !gone.includes(v));
        for (const v of gone) this.#engineEvent('volume', 'destroy', v.name);
        return { removed: gone.map((v) => v.name), spaceReclaimed: gone.length * 12_400_000 };
      }
      case 'list_networks':
        this.#needEngine();
        return this.#networks.map((n) => ({ ...n, containers: [...n.containers] }));
      case 'create_network': {
        this.#needEngine();
        const r = a.request as { name: string; driver: string | null; subnet: string | null; gateway: string | null; internal: boolean };
        if (this.#networks.some((n) => n.name === r.name)) throw { kind: 'conflict', message: `network with name ${r.name} already exists` };
        const id = hex(64);
        const subnet = r.subnet ?? `172.${19 + this.#networks.length}.0.0/16`;
        this.#networks.push({ id, name: r.name, driver: r.driver ?? 'bridge', subnets: [subnet], gateways: [r.gateway ?? subnet.replace(/0\/\d+$/, '1')], internal: r.internal, created: new Date().toISOString(), predefined: false, containers: [], labels: {} });
        this.#networks.sort((x, y) => x.name.localeCompare(y.name));
        this.#engineEvent('network', 'create', id, { name: r.name });
        return id;
      }
      case 'remove_network': {
        this.#needEngine();
        const n = this.#networks.find((x) => x.id === a.id || x.name === a.id);
        if (!n) throw { kind: 'not_found', message: `network ${String(a.id)} not found` };
        this.#networks = this.#networks.filter((x) => x !== n);
        this.#engineEvent('network', 'destroy', n.id, { name: n.name });
        return null;
      }
      case 'view_state':
        return this.#viewState;
      case 'save_view_state':
        this.#viewState = a.state;
        return null;
      case 'list_folder':
        return demoFolder(String(a.path ?? ''));
      case 'build_image':
        this.#needEngine();
        return demoBuild(a.request as BuildRequest, (e, p) => this.#emit(e, p), Number(this.#params.get('speed') ?? '1'));
      case 'push_image':
        this.#needEngine();
        return demoPush(String(a.reference), (e, p) => this.#emit(e, p), Number(this.#params.get('speed') ?? '1'));
      case 'registry_tags':
        return demoTags(String(a.repository));
      case 'list_registries':
        return this.#registries.list();
      case 'registry_sign_in':
        return this.#registries.signIn(a.request as SignInRequest);
      case 'registry_sign_out':
        return this.#registries.signOut(String(a.server));
      case 'machine_settings':
        return this.#settings.settings();
      case 'apply_machine_settings': {
        const applied = this.#settings.apply(a.change as SettingsChange, this.#machine.state === 'running');
        this.#machine = { ...this.#machine, cpus: applied.settings.cpus, memory_mib: applied.settings.memoryMib };
        if (applied.restarted) await this.#machineStop().then(() => this.#machineStart());
        return applied;
      }
      case 'recreate_machine': {
        const running = this.#machine.state === 'running';
        this.#settings.recreate(a.change as SettingsChange);
        if (running) await this.#machineStop().then(() => this.#machineStart());
        return running;
      }
      case 'restart_engine':
        await this.#machineStop();
        return this.#machineStart();
      case 'engine_log':
        return this.#settings.engineLog(Number(a.lines ?? 500));
      case 'docker_contexts':
        return this.#settings.contexts();
      case 'use_docker_context':
        return this.#settings.use(String(a.name));
      case 'autostart':
        return this.#settings.autostart();
      case 'set_autostart':
        return this.#settings.setAutostart(Boolean(a.enabled));
      default:
        throw { kind: 'unknown-command', message: `the demo backend has no command ${cmd}` };
    }
  }

  // ---------------------------------------------------------- containers

  async #action(id: string, action: string): Promise<null> {
    const c = this.#find(id);
    await sleep(action === 'stop' || action === 'restart' ? 700 : 300);
    const t = now();
    switch (action) {
      case 'start':
        Object.assign(c, { state: 'running', status: 'Up Less than a second' });
        break;
      case 'stop':
        Object.assign(c, { state: 'exited', status: 'Exited (0) Less than a second ago' });
        break;
      case 'restart':
        Object.assign(c, { state: 'running', status: 'Up Less than a second' });
        break;
      case 'remove':
        this.#containers = this.#containers.filter((x) => x !== c);
        this.#engineEvent('container', 'destroy', c.id, { name: c.name, image: c.image });
        return null;
      default:
        throw { kind: 'invalid', message: `unknown action ${action}` };
    }
    c.created = c.created || t;
    this.#engineEvent('container', action, c.id, { name: c.name, image: c.image });
    return null;
  }

  #follow(c: ContainerSummary): null {
    const lines = logsOf(c);
    let i = 0;
    for (; i < Math.min(lines.length, 40); i++) this.#emitLog(c, lines[i]);
    if (this.#following.has(c.id)) return null;
    const timer = setInterval(() => {
      if (c.state !== 'running') return;
      this.#emitLog(c, lines[i++ % lines.length]);
    }, 1200);
    this.#following.set(c.id, timer);
    return null;
  }

  #emitLog(c: ContainerSummary, line: string) {
    const stream = /error|warn|fatal/i.test(line) ? 'stderr' : 'stdout';
    setTimeout(() => this.#emit('container-log', { id: c.id, stream, line }), 0);
  }

  #run(req: RunRequest): string {
    if (!this.#images.some((i) => i.repoTags.includes(req.image) || i.repoTags.includes(`${req.image}:latest`))) {
      throw { kind: 'not-found', message: `no such image: ${req.image} (pull it first)` };
    }
    if (req.name && this.#containers.some((c) => c.name === req.name)) {
      throw { kind: 'conflict', message: `the container name "/${req.name}" is already in use` };
    }
    const name = req.name ?? `${pick(ADJECTIVES)}_${pick(NAMES)}`;
    const c = this.#container(name, req.image, 'running', 'Up Less than a second', now(), '');
    this.#containers.unshift(c);
    this.#engineEvent('container', 'create', c.id, { name, image: req.image });
    this.#engineEvent('container', 'start', c.id, { name, image: req.image });
    const img = this.#images.find((i) => i.repoTags.includes(req.image));
    if (img) img.inUse = true;
    return c.id;
  }

  // --------------------------------------------------------------- images

  async #pull(reference: string): Promise<void> {
    const tag = reference.includes(':') ? reference : `${reference}:latest`;
    const layers = Array.from({ length: 3 + Math.floor(Math.random() * 3) }, () => ({
      id: hex(12),
      total: Math.floor(2_000_000 + Math.random() * 30_000_000),
      current: 0,
    }));
    const progress = (layer: string | null, status: string, current: number | null = null, total: number | null = null) =>
      this.#emit('pull-progress', { reference, layer, status, current, total });
    progress(null, `Pulling from ${reference.split(':')[0]}`);
    for (const l of layers) progress(l.id, 'Pulling fs layer');
    await sleep(400);
    if (/^does-not-exist|^nope/.test(reference)) {
      this.#emit('pull-done', { reference, error: `manifest for ${tag} not found: manifest unknown` });
      return;
    }
    let done = false;
    const speed = Number(this.#params.get('speed') ?? '1');
    while (!done) {
      done = true;
      for (const [k, l] of layers.entries()) {
        if (l.current >= l.total) continue;
        done = false;
        l.current = Math.min(l.total, l.current + Math.floor((1_800_000 + k * 600_000) * speed));
        if (l.current >= l.total) {
          progress(l.id, 'Download complete');
          progress(l.id, 'Pull complete');
        } else {
          progress(l.id, 'Downloading', l.current, l.total);
        }
      }
      await sleep(120);
    }
    progress(null, `Digest: sha256:${hex(64)}`);
    progress(null, `Status: Downloaded newer image for ${tag}`);
    const existing = this.#images.find((i) => i.repoTags.includes(tag));
    if (!existing) {
      const img = this.#image([tag], layers.reduce((s, l) => s + l.total, 0), now() - 86400 * 6, false);
      this.#images.unshift(img);
      this.#engineEvent('image', 'pull', tag);
    }
    this.#emit('pull-done', { reference, error: null });
  }

  // -------------------------------------------------------------- machine

  async #machineStart(): Promise<null> {
    if (this.#machine.state === 'running') return null;
    const phases: [string, string, number][] = [
      ['launching', 'Launching QEMU with 4 CPUs and 4 GiB of memory', 700],
      ['booting', 'Booting the Linux kernel…', 1200],
      ['engine', 'Waiting for skiffd to answer…', 900],
      ['ready', 'Engine ready after 1840 ms', 0],
    ];
    this.#machine = { ...this.#machine, state: 'starting', reason: null };
    this.#emit('machine-state', { ...this.#machine });
    this.#console = [];
    const boot = bootLog();
    for (const [phase, message, ms] of phases) {
      this.#emit('machine-progress', { phase, message });
      this.#console.push(...boot.splice(0, Math.ceil(bootLog().length / 4)));
      await sleep(ms);
    }
    this.#machine = { ...this.#machine, state: 'running' };
    this.#engine = { ...this.#engine, reachable: true, version: '0.4.0', error: null };
    this.#emit('machine-state', { ...this.#machine });
    this.#emit('engine-state', { ...this.#engine });
    return null;
  }

  async #machineStop(): Promise<null> {
    await sleep(900);
    this.#console.push('skiff-init: poweroff requested', 'skiff-init: stopping skiffd', 'skiff-init: powered off');
    this.#machine = { ...this.#machine, state: 'stopped' };
    this.#engine = { ...this.#engine, reachable: false, version: null, error: 'connect: no such file or directory (os error 2)' };
    this.#emit('machine-state', { ...this.#machine });
    this.#emit('engine-state', { ...this.#engine });
    return null;
  }

  // --------------------------------------------------------------- script

  /** Drives the UI into the scene the URL asks for. */
  async #script(): Promise<void> {
    const p = this.#params;
    const click = async (selector: string) => {
      for (let i = 0; i < 40; i++) {
        const el = document.querySelector<HTMLElement>(selector);
        if (el) {
          el.click();
          return el;
        }
        await sleep(50);
      }
      return null;
    };
    const fill = async (selector: string, value: string) => {
      const el = (await click(selector)) as HTMLInputElement | null;
      if (!el) return;
      el.value = value;
      el.dispatchEvent(new Event('input', { bubbles: true }));
    };
    await sleep(200);
    const view = p.get('view');
    if (view) await click(`[data-testid="nav-${view}"]`);
    for (const name of (p.get('select') ?? '').split(',').filter(Boolean)) {
      await click(`[data-testid="container-row"][data-name="${name}"] [data-testid="container-select"]`);
    }
    const details = p.get('details');
    if (details) {
      await click(`[data-testid="container-row"][data-name="${details}"] [data-testid="container-name"]`);
      const tab = p.get('tab');
      if (tab && tab !== 'logs') await click(`[data-testid="tab-${tab}"]`);
      if (tab === 'files') await click('[data-testid="file-row"][data-name="etc"] button');
    }
    const layers = p.get('layers');
    if (layers) {
      await click('[data-testid="nav-images"]');
      await click(`[data-testid="image-row"][data-ref="${layers}"] [data-testid="image-layers"]`);
    }
    const confirm = p.get('confirm');
    if (confirm) await click(`[data-testid="container-row"][data-name="${confirm}"] [data-testid="action-remove"]`);
    const pull = p.get('pull');
    if (pull) {
      await click('[data-testid="nav-images"]');
      await fill('[data-testid="pull-input"]', pull);
      await sleep(50);
      await click('[data-testid="pull-button"]');
    }
    const run = p.get('run');
    if (run) {
      await click('[data-testid="nav-images"]');
      await click(`[data-testid="image-row"][data-ref="${run}"] [data-testid="image-run"]`);
      await fill('[data-testid="run-name"]', 'api-dev');
      await click('[data-testid="run-env-add"]');
      await fill('[data-testid="run-env-key"]', 'LOG_LEVEL');
      await fill('[data-testid="run-env-value"]', 'debug');
      await fill('[data-testid="run-cmd"]', 'nginx -g "daemon off;"');
    }
    await demoScenes(p, click, fill);
  }
}

const ADJECTIVES = ['brave', 'eager', 'quiet', 'jolly', 'nifty', 'zen'];
const NAMES = ['hopper', 'lovelace', 'turing', 'ritchie', 'wozniak', 'curie'];
const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)];

function logsOf(c: ContainerSummary): string[] {
  if (c.image.startsWith('nginx')) {
    return [
      '/docker-entrypoint.sh: Configuration complete; ready for start up',
      '2025/01/14 09:12:03 [notice] 1#1: using the "epoll" event method',
      '2025/01/14 09:12:03 [notice] 1#1: nginx/1.27.3',
      '2025/01/14 09:12:03 [notice] 1#1: start worker processes',
      '172.17.0.1 - - [14/Jan/2025:09:13:41 +0000] "GET / HTTP/1.1" 200 615 "-" "curl/8.5.0"',
      '172.17.0.1 - - [14/Jan/2025:09:13:42 +0000] "GET /favicon.ico HTTP/1.1" 404 153 "-" "Mozilla/5.0"',
      '2025/01/14 09:13:42 [error] 29#29: *2 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory)',
      '172.17.0.1 - - [14/Jan/2025:09:14:10 +0000] "GET /api/health HTTP/1.1" 200 2 "-" "kube-probe/1.30"',
    ];
  }
  if (c.image.startsWith('postgres')) {
    return [
      'PostgreSQL init process complete; ready for start up.',
      '2025-01-14 09:12:05.101 UTC [1] LOG:  starting PostgreSQL 16.6 on x86_64-pc-linux-gnu',
      '2025-01-14 09:12:05.102 UTC [1] LOG:  listening on IPv4 address "0.0.0.0", port 5432',
      '2025-01-14 09:12:05.110 UTC [1] LOG:  database system is ready to accept connections',
      '2025-01-14 09:17:05.204 UTC [27] LOG:  checkpoint starting: time',
      '2025-01-14 09:17:09.318 UTC [27] LOG:  checkpoint complete: wrote 44 buffers (0.3%)',
    ];
  }
  return [
    `${c.name}: starting`,
    `${c.name}: loaded configuration from /etc/app/config.yaml`,
    `${c.name}: listening on :8080`,
    `${c.name}: processed batch 1 (120 items) in 42ms`,
    `WARN ${c.name}: retrying upstream request (attempt 2)`,
    `${c.name}: processed batch 2 (118 items) in 39ms`,
  ];
}

function inspectOf(c: ContainerSummary): unknown {
  return {
    Id: c.id,
    Created: new Date(c.created * 1000).toISOString(),
    Path: '/docker-entrypoint.sh',
    Args: ['nginx', '-g', 'daemon off;'],
    State: {
      Status: c.state,
      Running: c.state === 'running',
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: c.state === 'running' ? 4127 : 0,
      ExitCode: 0,
      StartedAt: new Date(c.created * 1000 + 800).toISOString(),
    },
    Image: `sha256:${hex(64)}`,
    Name: `/${c.name}`,
    RestartCount: 0,
    Driver: 'overlay2',
    HostConfig: { NetworkMode: 'bridge', AutoRemove: false, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } },
    Config: {
      Hostname: c.id.slice(0, 12),
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NGINX_VERSION=1.27.3'],
      Image: c.image,
      Labels: { maintainer: 'NGINX Docker Maintainers' },
    },
    NetworkSettings: { IPAddress: '172.17.0.2', Gateway: '172.17.0.1', Ports: c.ports || null },
  };
}

function bootLog(): string[] {
  return [
    '[    0.000000] Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org)',
    '[    0.000000] Command line: console=ttyS0 panic=-1 quiet skiff.data=/dev/vda',
    '[    0.214502] virtio_blk virtio1: [vda] 134217728 512-byte logical blocks (68.7 GB/64.0 GiB)',
    '[    0.301877] Run /init as init process',
    'skiff-init: switching root to tmpfs',
    'skiff-init: mounted proc, sys, dev, cgroup2',
    'skiff-init: loaded 14 kernel modules',
    'skiff-init: eth0 10.0.2.15/24 via 10.0.2.2',
    'skiff-init: /dev/vda mounted at /var/lib/skiff',
    'skiff-init: starting skiffd',
    'skiff-init: engine port /dev/vport1p1 ready',
    'skiff-init: engine ready after 1840 ms',
  ];
}

/** The demo backend, as api.ts's transport. */
export function createDemoTransport(): Transport {
  return new DemoBackend();
}
