/**
 * Keeps the stores current from backend events: lists are re-fetched
 * (debounced) on the engine events that change them — no polling.
 */
import * as api from '../api';
import { clock } from './clock.svelte';
import { containers } from './containers.svelte';
import { engine } from './engine.svelte';
import { images } from './images.svelte';
import { machine } from './machine.svelte';
import { nav } from './nav.svelte';
import { networks } from './networks.svelte';
import { builds } from './builds.svelte';
import { pulls } from './pulls.svelte';
import { pushes } from './pushes.svelte';
import { volumes } from './volumes.svelte';

/** Container actions that change nothing a list shows. */
const QUIET_CONTAINER_ACTIONS = /^(exec_|attach|resize|top|export|archive-path|extract-to-dir|copy)/;

/** Container actions after which an image's "in use" mark may change. */
const IMAGE_USE_ACTIONS = new Set(['create', 'destroy']);

/**
 * Container actions after which the volumes' "in use by" and the networks'
 * containers and addresses may change.
 */
const ATTACHMENT_ACTIONS = new Set(['create', 'destroy', 'start', 'die', 'rename']);

/** Routes one engine event to the lists it changes. */
export function handleEngineEvent(ev: api.EngineEvent): void {
  switch (ev.Type) {
    case 'container':
      if (QUIET_CONTAINER_ACTIONS.test(ev.Action)) return;
      containers.refreshSoon();
      if (IMAGE_USE_ACTIONS.has(ev.Action)) images.refreshSoon();
      if (ATTACHMENT_ACTIONS.has(ev.Action)) {
        volumes.refreshSoon();
        networks.refreshSoon();
      }
      break;
    case 'image':
      images.refreshSoon();
      break;
    case 'volume':
      // mount/unmount change nothing the list shows.
      if (ev.Action === 'mount' || ev.Action === 'unmount') return;
      volumes.refreshSoon();
      break;
    case 'network':
      networks.refreshSoon();
      break;
  }
}

/** Takes an `engine-state` report; a reconnected engine gets its lists re-read. */
export function handleEngineState(status: api.EngineStatus): void {
  const wasReachable = engine.reachable;
  engine.set(status);
  if (status.reachable && !wasReachable) {
    containers.refreshSoon();
    images.refreshSoon();
    volumes.refreshSoon();
    networks.refreshSoon();
  }
}

/** Loads everything once and subscribes to every app-wide event. */
export function startLive(): api.Unsubscribe {
  const subs = [
    api.onEngineEvent(handleEngineEvent),
    api.onEngineState(handleEngineState),
    api.onMachineState((m) => machine.set(m)),
    api.onMachineProgress((p) => machine.setProgress(p)),
    api.onPullProgress((p) => pulls.progress(p)),
    api.onPullDone((d) => pulls.finish(d)),
    api.onPushProgress((p) => pushes.progress(p)),
    api.onPushDone((d) => pushes.finish(d)),
    api.onBuildLog((l) => builds.line(l)),
    api.onBuildDone((d) => builds.finish(d)),
  ];
  const stopClock = clock.start();
  void nav.restore();
  void engine.load();
  void containers.load();
  void images.load();
  void volumes.load();
  void networks.load();
  void machine.load();
  return () => {
    for (const unsubscribe of subs) unsubscribe();
    stopClock();
    containers.refreshSoon.cancel();
    images.refreshSoon.cancel();
    volumes.refreshSoon.cancel();
    networks.refreshSoon.cancel();
  };
}
