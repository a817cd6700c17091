import { describe, expect, it } from 'vitest';
import { debounce, humanSize, normalizeReference, portList, relativeTime, shortId, splitRepoTag } from '../lib/format';
import { highlightJson } from '../lib/json';
import { errorMessage } from '../lib/errors';

describe('format', () => {
  it('humanSize uses decimal units like docker', () => {
    expect(humanSize(0)).toBe('0 B');
    expect(humanSize(999)).toBe('999 B');
    expect(humanSize(13_256)).toBe('13.3 kB');
    expect(humanSize(7_800_000)).toBe('7.8 MB');
    expect(humanSize(192_600_000)).toBe('193 MB');
    expect(humanSize(1_500_000_000)).toBe('1.5 GB');
  });

  it('relativeTime', () => {
    const now = 1_700_000_000_000;
    const s = now / 1000;
    expect(relativeTime(s - 3, now)).toBe('just now');
    expect(relativeTime(s - 45, now)).toBe('45 seconds ago');
    expect(relativeTime(s - 60, now)).toBe('1 minute ago');
    expect(relativeTime(s - 7200, now)).toBe('2 hours ago');
    expect(relativeTime(s - 86400 * 3, now)).toBe('3 days ago');
    expect(relativeTime(s - 86400 * 15, now)).toBe('2 weeks ago');
    expect(relativeTime(s - 86400 * 400, now)).toBe('1 year ago');
    expect(relativeTime(0, now)).toBe('—');
  });

  it('ids, tags and ports', () => {
    expect(shortId('sha256:0123456789abcdef0123')).toBe('0123456789ab');
    expect(splitRepoTag('localhost:5000/app:v2')).toEqual({ repository: 'localhost:5000/app', tag: 'v2' });
    expect(splitRepoTag('localhost:5000/app')).toEqual({ repository: 'localhost:5000/app', tag: 'latest' });
    expect(portList('0.0.0.0:80->80/tcp, 443/tcp')).toEqual(['0.0.0.0:80->80/tcp', '443/tcp']);
    expect(portList('')).toEqual([]);
  });

  it('normalizeReference folds the ways to name one image', () => {
    expect(normalizeReference('alpine')).toBe('docker.io/library/alpine:latest');
    expect(normalizeReference('library/alpine:3.20')).toBe('docker.io/library/alpine:3.20');
    expect(normalizeReference('docker.io/library/alpine:3.20')).toBe('docker.io/library/alpine:3.20');
    expect(normalizeReference('localhost:5000/app')).toBe('localhost:5000/app:latest');
    expect(normalizeReference('ghcr.io/o/a@sha256:ab')).toBe('ghcr.io/o/a@sha256:ab');
  });

  it('debounce folds a burst into one call', async () => {
    let n = 0;
    const d = debounce(() => n++, 20);
    d();
    d();
    d();
    await new Promise((r) => setTimeout(r, 50));
    expect(n).toBe(1);
    d();
    d.cancel();
    await new Promise((r) => setTimeout(r, 50));
    expect(n).toBe(1);
  });

  it('highlightJson escapes markup and tags tokens', () => {
    const html = highlightJson(JSON.stringify({ a: '<script>', n: 1, t: true }, null, 2));
    expect(html).not.toContain('<script>');
    expect(html).toContain('<span class="k">&#34;a&#34;</span>:');
    expect(html).toContain('<span class="s">&#34;&#60;script&#62;&#34;</span>');
    expect(html).toContain('<span class="n">1</span>');
    expect(html).toContain('<span class="b">true</span>');
  });

  it('errorMessage reads every shape of failure', () => {
    expect(errorMessage({ kind: 'x', message: 'boom' })).toBe('boom');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage(new Error('err'))).toBe('err');
  });
});
