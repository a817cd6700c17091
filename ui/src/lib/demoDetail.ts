/**
 * The demo backend's container detail streams and image history (see
 * demo.ts): stats samples a second with a plausible load, a shell that
 * answers a few commands (of an nginx container), a small filesystem, and
 * layers (of a node app on alpine).
 */
import type { FileEntry, FileListing, ImageLayer, StatsSample } from './api';

type Emit = <E extends 'container-stats' | 'terminal-output' | 'terminal-exit'>(
  event: E,
  payload: E extends 'container-stats'
    ? StatsSample
    : E extends 'terminal-output'
      ? { session: string; data: string }
      : { session: string; code: number | null },
) => void;

const MB = 1_000_000;
/** File times: a few days back from now. */
const T0 = Math.floor(Date.now() / 1000) - 5 * 86400;

/** Streams stats samples for container `id` (history first, then one a second); returns a stop function. */
export function demoStats(id: string, emit: Emit): () => void {
  let t = Date.now() - 60_000;
  let rx = 180 * MB;
  let tx = 42 * MB;
  let read = 96 * MB;
  let write = 12 * MB;
  let phase = Math.random() * 10;
  const next = (): StatsSample => {
    phase += 0.35;
    t += 1000;
    const load = 18 + 14 * Math.sin(phase) + 9 * Math.sin(phase * 2.7) + Math.random() * 6;
    rx += Math.floor((220_000 + 160_000 * Math.sin(phase * 1.3)) * (0.7 + Math.random() * 0.6));
    tx += Math.floor((60_000 + 40_000 * Math.sin(phase)) * (0.7 + Math.random() * 0.6));
    read += Math.random() < 0.2 ? Math.floor(Math.random() * 2 * MB) : 0;
    write += Math.floor(80_000 + Math.random() * 120_000);
    return {
      id,
      at: t,
      cpuPercent: Math.max(0.5, load),
      memory: Math.floor(148 * MB + 22 * MB * Math.sin(phase / 3) + Math.random() * 3 * MB),
      memoryLimit: 4_105_000_000,
      netRx: rx,
      netTx: tx,
      blockRead: read,
      blockWrite: write,
    };
  };
  for (let i = 0; i < 59; i++) emit('container-stats', next());
  const timer = setInterval(() => {
    t = Date.now() - 1000;
    emit('container-stats', next());
  }, 1000);
  return () => clearInterval(timer);
}

/** A pretend shell for `terminal_open`: a prompt, echo, ls, hostname, exit. */
export class DemoShell {
  #line = '';
  constructor(
    readonly session: string,
    private readonly host: string,
    private readonly emit: Emit,
  ) {
    this.#out(`${this.#prompt()}`);
  }

  #prompt() {
    return `\x1b[1;32mroot@${this.host}\x1b[0m:\x1b[1;34m/\x1b[0m# `;
  }

  #out(data: string) {
    setTimeout(() => this.emit('terminal-output', { session: this.session, data }), 0);
  }

  /** Keystrokes in. */
  input(data: string) {
    for (const ch of data) {
      if (ch === '\r') {
        const cmd = this.#line.trim();
        this.#line = '';
        this.#out('\r\n' + this.#run(cmd));
        if (cmd === 'exit') {
          setTimeout(() => this.emit('terminal-exit', { session: this.session, code: 0 }), 10);
          return;
        }
        this.#out(this.#prompt());
      } else if (ch === '\x7f') {
        if (this.#line) {
          this.#line = this.#line.slice(0, -1);
          this.#out('\b \b');
        }
      } else {
        this.#line += ch;
        this.#out(ch);
      }
    }
  }

  #run(cmd: string): string {
    const [name, ...args] = cmd.split(/\s+/);
    switch (name) {
      case '':
        return '';
      case 'echo':
        return args.join(' ').replace(/"/g, '').replace('$(hostname)', this.host) + '\r\n';
      case 'hostname':
        return this.host + '\r\n';
      case 'nginx':
        return 'nginx version: nginx/1.27.3\r\n';
      case 'ls':
        return args[0]?.includes('html') ? '50x.html  index.html\r\n' : '\x1b[1;34mbin\x1b[0m  \x1b[1;34mdocker-entrypoint.d\x1b[0m  \x1b[1;34metc\x1b[0m  \x1b[1;34musr\x1b[0m  \x1b[1;34mvar\x1b[0m\r\n';
      case 'exit':
        return 'exit\r\n';
      default:
        return `sh: ${name}: not found\r\n`;
    }
  }
}

const FILES: Record<string, FileEntry[]> = {
  '/': ['app', 'bin', 'dev', 'etc', 'home', 'lib', 'proc', 'root', 'run', 'sbin', 'srv', 'sys', 'tmp', 'usr', 'var']
    .map((name) => ({ name, kind: 'dir' as const, size: 0, mode: name === 'tmp' ? 0o1777 : 0o755, modified: T0 + 0, target: null })),
  '/app': [
    { name: 'node_modules', kind: 'dir', size: 0, mode: 0o755, modified: T0 + 80000, target: null },
    { name: 'public', kind: 'dir', size: 0, mode: 0o755, modified: T0 + 80000, target: null },
    { name: 'src', kind: 'dir', size: 0, mode: 0o755, modified: T0 + 80000, target: null },
    { name: '.env', kind: 'file', size: 214, mode: 0o600, modified: T0 + 80100, target: null },
    { name: 'package-lock.json', kind: 'file', size: 412_877, mode: 0o644, modified: T0 + 80000, target: null },
    { name: 'package.json', kind: 'file', size: 1_342, mode: 0o644, modified: T0 + 80000, target: null },
    { name: 'server.js', kind: 'file', size: 6_918, mode: 0o644, modified: T0 + 80050, target: null },
  ],
  '/etc': [
    { name: 'nginx', kind: 'dir', size: 0, mode: 0o755, modified: T0 + 0, target: null },
    { name: 'ssl', kind: 'dir', size: 0, mode: 0o755, modified: T0 + 0, target: null },
    { name: 'group', kind: 'file', size: 697, mode: 0o644, modified: T0 + 0, target: null },
    { name: 'hostname', kind: 'file', size: 13, mode: 0o644, modified: T0 + 90000, target: null },
    { name: 'hosts', kind: 'file', size: 174, mode: 0o644, modified: T0 + 90000, target: null },
    { name: 'mtab', kind: 'link', size: 0, mode: 0o777, modified: T0 + 0, target: '/proc/mounts' },
    { name: 'os-release', kind: 'file', size: 393, mode: 0o644, modified: T0 + 0, target: null },
    { name: 'passwd', kind: 'file', size: 1_172, mode: 0o644, modified: T0 + 0, target: null },
    { name: 'resolv.conf', kind: 'file', size: 38, mode: 0o644, modified: T0 + 90000, target: null },
  ],
};

/** `list_files` of the demo. */
export function demoFiles(path: string): FileListing {
  return { path, entries: FILES[path] ?? [], truncated: false };
}

/** `image_history` of the demo: a node app on alpine. */
export function demoHistory(image: string): ImageLayer[] {
  const t = Math.floor(Date.now() / 1000) - 3 * 86400;
  const step = (instruction: string, size: number, ago: number, id = '<missing>'): ImageLayer => ({
    id,
    created: t - ago,
    instruction,
    size,
    tags: id === '<missing>' ? [] : [image],
    comment: size && ago > 86400 * 20 ? '' : 'buildkit.dockerfile.v0',
  });
  return [
    step('CMD ["node", "server.js"]', 0, 0, 'sha256:5f1c0e8f7a2b4d6e8a0c2e4f6a8b0d2c4e6f8a0b2d4c6e8f0a2b4c6d8e0f2a4b6'),
    step('EXPOSE map[3000/tcp:{}]', 0, 0),
    step('COPY . . # buildkit', 1_204_311, 10),
    step('RUN npm ci --omit=dev # buildkit', 48_733_102, 60),
    step('COPY package*.json ./ # buildkit', 414_219, 90),
    step('WORKDIR /app', 0, 95),
    step('ENV NODE_ENV=production', 0, 95),
    step('RUN apk add --no-cache tini # buildkit', 1_532_004, 120),
    step('CMD ["node"]', 0, 86400 * 30),
    step('ENTRYPOINT ["docker-entrypoint.sh"]', 0, 86400 * 30),
    step('COPY docker-entrypoint.sh /usr/local/bin/ # buildkit', 388, 86400 * 30),
    step('RUN /bin/sh -c apk add --no-cache libstdc++ && addgroup -g 1000 node …', 112_394_550, 86400 * 30),
    step('ENV NODE_VERSION=22.12.0', 0, 86400 * 30),
    step('CMD ["/bin/sh"]', 0, 86400 * 31),
    step('ADD alpine-minirootfs-3.21.0-x86_64.tar.gz / # buildkit', 7_839_441, 86400 * 31),
  ];
}
