/** Formatting helpers shared by the views (pure functions). */

/** Bytes as Docker prints them: decimal units, 3 significant digits ("7.8 MB"). */
export function humanSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${Number(v.toFixed(digits))} ${units[i]}`;
}

/** "just now", "3 minutes ago", "2 days ago", … for a Unix time in seconds. */
export function relativeTime(unixSeconds: number, nowMs: number = Date.now()): string {
  if (!unixSeconds) return '—';
  const s = Math.max(0, Math.round(nowMs / 1000 - unixSeconds));
  const steps: [number, string][] = [
    [60, 'second'],
    [60, 'minute'],
    [24, 'hour'],
    [7, 'day'],
    [4.345, 'week'],
    [12, 'month'],
    [Number.POSITIVE_INFINITY, 'year'],
  ];
  if (s < 10) return 'just now';
  let v = s;
  for (const [size, unit] of steps) {
    if (v < size) {
      const n = Math.floor(v);
      return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
    }
    v /= size;
  }
  return '—';
}

/** Absolute local date and time, for tooltips. */
export function absoluteTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toLocaleString();
}

/** First 12 hex digits of an id, without its "sha256:" prefix. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** Splits "repo:tag" into its parts ("<none>" when absent). */
export function splitRepoTag(repoTag: string): { repository: string; tag: string } {
  const at = repoTag.indexOf('@');
  if (at >= 0) return { repository: repoTag.slice(0, at), tag: repoTag.slice(at + 1, at + 20) };
  const colon = repoTag.lastIndexOf(':');
  if (colon > repoTag.lastIndexOf('/')) {
    return { repository: repoTag.slice(0, colon), tag: repoTag.slice(colon + 1) };
  }
  return { repository: repoTag || '<none>', tag: repoTag ? 'latest' : '<none>' };
}

/** MiB as "2 GiB" / "512 MiB". */
export function mib(n: number): string {
  if (n >= 1024) return `${Number((n / 1024).toFixed(1))} GiB`;
  return `${n} MiB`;
}

/** Splits a comma-separated port list into its entries. */
export function portList(ports: string): string[] {
  return ports
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

/**
 * Normal form of an image reference, to match a pull's events with the
 * reference a user typed: "alpine" and "docker.io/library/alpine:latest"
 * are the same image.
 */
export function normalizeReference(ref: string): string {
  let r = ref.trim();
  const slash = r.indexOf('/');
  const first = slash < 0 ? '' : r.slice(0, slash);
  const hasRegistry = first.includes('.') || first.includes(':') || first === 'localhost';
  if (!hasRegistry) r = `docker.io/${slash < 0 ? 'library/' : ''}${r}`;
  const lastSlash = r.lastIndexOf('/');
  if (!r.includes('@') && r.lastIndexOf(':') < lastSlash) r = `${r}:latest`;
  return r.replace(/^index\.docker\.io\//, 'docker.io/');
}

/** Calls `fn` once, `ms` after the last of a burst of calls. */
export function debounce(fn: () => void, ms: number): { (): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const d = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
  d.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return d;
}

/** Unix seconds of an RFC 3339 time (the engine's `CreatedAt`); 0 when absent or unreadable. */
export function unixFromRfc3339(time: string | null | undefined): number {
  if (!time) return 0;
  const ms = Date.parse(time);
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
}

/** Permission bits as `ls -l` shows them ("rwxr-xr-x"). */
export function permissions(mode: number): string {
  const bits = 'rwxrwxrwx';
  let out = '';
  for (let i = 0; i < 9; i++) out += mode & (1 << (8 - i)) ? bits[i] : '-';
  return out;
}

/** The parent of an absolute path ("/" for "/" and top-level entries). */
export function parentPath(path: string): string {
  const at = path.replace(/\/+$/, '').lastIndexOf('/');
  return at <= 0 ? '/' : path.slice(0, at);
}

/** `name` inside directory `dir`. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}
