/**
 * The demo backend's build, push, tag and registry parts (see demo.ts):
 * a folder tree, a build log that streams, push progress, registry tags
 * and sign-ins kept in memory.
 *
 * Scenes: ?build (the build dialog, building `shop/web`), ?push=<ref>,
 * ?tags=<repository>, ?view=registries.
 */
import type { BuildRequest, EventMap, FolderListing, SignedIn, SignInRequest } from './api';

type Emit = <E extends keyof EventMap>(event: E, payload: EventMap[E]) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (n: number) =>
  Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');

const TREE: Record<string, { folders: string[]; dockerfiles: string[] }> = {
  '/home/alex': { folders: ['Desktop', 'Documents', 'projects'], dockerfiles: [] },
  '/home/alex/projects': { folders: ['shop', 'notes-api', 'blog'], dockerfiles: [] },
  '/home/alex/projects/shop': { folders: ['web', 'worker', 'db'], dockerfiles: [] },
  '/home/alex/projects/shop/web': { folders: ['public', 'src'], dockerfiles: ['Dockerfile', 'Dockerfile.dev'] },
};

/** A folder of the demo tree (unknown ones are empty). */
export function demoFolder(path: string): FolderListing {
  const p = path.trim() || '/home/alex';
  const entry = TREE[p] ?? { folders: [], dockerfiles: [] };
  const parent = p === '/' ? null : p.slice(0, p.lastIndexOf('/')) || '/';
  return { path: p, parent, ...entry };
}

/** The lines a build of `request` prints, as the classic builder does. */
export function demoBuildLines(request: BuildRequest): string[] {
  const args = request.buildArgs.map((a) => a.split('=')[0]);
  const steps = [
    'FROM node:22-alpine AS deps',
    'WORKDIR /app',
    'COPY package.json package-lock.json ./',
    'RUN npm ci --omit=dev',
    ...args.map((a) => `ARG ${a}`),
    'COPY . .',
    'EXPOSE 3000',
    'CMD ["node", "server.js"]',
  ];
  const lines = ['Sending build context to Docker engine  2.31MB'];
  steps.forEach((s, i) => {
    lines.push(`Step ${i + 1}/${steps.length} : ${s}`);
    if (s.startsWith('RUN npm')) {
      lines.push(` ---> Running in ${hex(12)}`, 'added 142 packages, and audited 143 packages in 6s', 'found 0 vulnerabilities', `Removing intermediate container ${hex(12)}`);
    } else if (s.startsWith('FROM') || s.startsWith('WORKDIR')) {
      lines.push(' ---> Using cache');
    }
    lines.push(` ---> ${hex(12)}`);
  });
  lines.push(`Successfully built ${hex(12)}`);
  if (request.tag) lines.push(`Successfully tagged ${request.tag.includes(':') ? request.tag : `${request.tag}:latest`}`);
  return lines;
}

/** Streams a build's lines; the image id. */
export async function demoBuild(request: BuildRequest, emit: Emit, speed: number): Promise<string> {
  for (const line of demoBuildLines(request)) {
    emit('build-log', { build: request.build, line });
    await sleep(line.startsWith('Step') ? 260 / speed : 60 / speed);
  }
  const image = `sha256:${hex(64)}`;
  emit('build-done', { build: request.build, image, error: null });
  return image;
}

/** Pushes with per-layer progress; the digest. */
export async function demoPush(reference: string, emit: Emit, speed: number): Promise<string> {
  const repo = reference.replace(/:[^/:]+$/, '');
  const progress = (layer: string | null, status: string, current: number | null = null, total: number | null = null) =>
    emit('push-progress', { reference, layer, status, current, total });
  progress(null, `The push refers to repository [${repo}]`);
  const layers = Array.from({ length: 4 }, (_, k) => ({ id: hex(12), total: 3_000_000 + k * 9_000_000, current: 0 }));
  for (const l of layers) progress(l.id, 'Preparing');
  await sleep(300);
  progress(layers[0].id, 'Layer already exists');
  progress(layers[1].id, `Mounted from ${repo.replace(/[^/]+$/, 'base')}`);
  for (let round = 0; round < 40; round++) {
    for (const l of layers.slice(2)) {
      if (l.current >= l.total) continue;
      l.current = Math.min(l.total, l.current + Math.floor(900_000 * speed));
      progress(l.id, l.current >= l.total ? 'Pushed' : 'Pushing', l.current, l.total);
    }
    await sleep(120);
  }
  const digest = `sha256:${hex(64)}`;
  progress(null, `${reference.split(':').pop()}: digest: ${digest} size: 1573`);
  emit('push-done', { reference, digest, error: null });
  return digest;
}

/** The tags a demo registry lists. */
export function demoTags(repository: string): string[] {
  if (/nope|does-not-exist/.test(repository)) {
    throw { kind: 'not_found', message: `${repository.split('/')[0]} lists no tags for ${repository}: name unknown.` };
  }
  const base = ['latest', 'alpine', 'bookworm', 'edge'];
  const versions = ['1.27.3', '1.27.2', '1.27.1', '1.27', '1.26.2', '1.26', '1.25.5', '1.25'];
  return [...versions, ...versions.slice(0, 4).map((v) => `${v}-alpine`), ...base];
}

/** Sign-ins kept in memory. */
export class DemoRegistries {
  #items: SignedIn[] = [
    { server: 'https://index.docker.io/v1/', username: 'alexdev', store: 'keychain' },
    { server: 'ghcr.io', username: 'alex-acme', store: 'helper pass' },
  ];

  list(): SignedIn[] {
    return [...this.#items];
  }

  signIn(r: SignInRequest): SignedIn {
    if (r.password === 'wrong') {
      throw { kind: 'engine_error', message: `login attempt to https://${r.server || 'registry-1.docker.io'}/v2/ failed with status: 401 Unauthorized` };
    }
    const server = r.server.trim() || 'https://index.docker.io/v1/';
    const signed = { server, username: r.username, store: 'keychain' };
    this.#items = [...this.#items.filter((i) => i.server !== server), signed];
    return signed;
  }

  signOut(server: string): null {
    this.#items = this.#items.filter((i) => i.server !== server);
    return null;
  }
}

/** Sets up the build/push/tags scenes once the app is drawn. */
export async function demoScenes(
  p: URLSearchParams,
  click: (selector: string) => Promise<unknown>,
  fill: (selector: string, value: string) => Promise<void>,
): Promise<void> {
  if (p.has('build')) {
    await click('[data-testid="nav-images"]');
    await click('[data-testid="build-open"]');
    await fill('[data-testid="build-context"]', '/home/alex/projects/shop/web');
    await fill('[data-testid="build-tag"]', 'shop/web:dev');
    await click('[data-testid="build-arg-add"]');
    await fill('[data-testid="build-arg-key"]', 'NODE_ENV');
    await fill('[data-testid="build-arg-value"]', 'production');
    if (p.get('build') !== 'form') await click('[data-testid="build-submit"]');
    else await click('[data-testid="build-browse"]');
  }
  const push = p.get('push');
  if (push) {
    await click('[data-testid="nav-images"]');
    await click(`[data-testid="image-row"][data-ref="${push}"] [data-testid="image-push"]`);
  }
  const tags = p.get('tags');
  if (tags) {
    await click('[data-testid="nav-images"]');
    await fill('[data-testid="pull-input"]', tags);
    await click('[data-testid="pull-tags"]');
  }
}
