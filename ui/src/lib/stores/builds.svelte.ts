/**
 * The image build of the build dialog: its request, the live log from
 * `build-log` events, and its end from `build-done`. One build at a time.
 */
import * as api from '../api';
import { errorMessage } from '../errors';
import { images } from './images.svelte';
import { toasts } from './toasts.svelte';

/** Most log lines kept (the oldest go first). */
export const MAX_BUILD_LINES = 5000;

/** A build, running or finished. */
export interface Build {
  id: string;
  request: api.BuildRequest;
  lines: string[];
  done: boolean;
  /** The image built, once done. */
  image: string | null;
  error: string | null;
}

let counter = 0;

class BuildsStore {
  current = $state<Build | null>(null);

  /** Whether a build runs. */
  get running(): boolean {
    return !!this.current && !this.current.done;
  }

  /** Starts a build; resolves when it ends (the outcome is in `current`). */
  async start(request: Omit<api.BuildRequest, 'build'>): Promise<void> {
    if (this.running) return;
    const id = `build-${Date.now()}-${++counter}`;
    this.current = { id, request: { ...request, build: id }, lines: [], done: false, image: null, error: null };
    try {
      const image = await api.buildImage({ ...request, build: id });
      this.finish({ build: id, image, error: null });
    } catch (err) {
      this.finish({ build: id, image: null, error: errorMessage(err) });
    }
  }

  /** Takes a `build-log` event. */
  line(l: api.BuildLine): void {
    const b = this.current;
    if (!b || b.id !== l.build || b.done) return;
    b.lines.push(l.line);
    if (b.lines.length > MAX_BUILD_LINES) b.lines.splice(0, b.lines.length - MAX_BUILD_LINES);
  }

  /** Takes a `build-done` event (or the command's own outcome; the first wins). */
  finish(d: api.BuildDone): void {
    const b = this.current;
    if (!b || b.id !== d.build || b.done) return;
    b.done = true;
    b.image = d.image;
    b.error = d.error;
    if (d.error) toasts.error(`Build failed: ${d.error}`);
    else toasts.push('success', `Built ${b.request.tag ?? d.image?.slice(7, 19) ?? 'the image'}`);
    images.refreshSoon();
  }

  /** Forgets a finished build (the dialog starts over). */
  clear(): void {
    if (!this.running) this.current = null;
  }

  reset(): void {
    this.current = null;
  }
}

/** The app's build. */
export const builds = new BuildsStore();
