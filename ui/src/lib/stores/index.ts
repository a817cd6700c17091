/** The app's stores, built on `api.ts`. */
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
import { registries } from './registries.svelte';
import { settings } from './settings.svelte';
import { toasts } from './toasts.svelte';
import { troubleshoot } from './troubleshoot.svelte';
import { volumes } from './volumes.svelte';

export {
  builds,
  clock,
  containers,
  engine,
  images,
  machine,
  nav,
  networks,
  pulls,
  pushes,
  registries,
  settings,
  toasts,
  troubleshoot,
  volumes,
};
export { startLive, handleEngineEvent, handleEngineState } from './live';

/** Puts every store back to its initial state (tests). */
export function resetStores(): void {
  containers.reset();
  engine.reset();
  images.reset();
  machine.reset();
  nav.reset();
  networks.reset();
  volumes.reset();
  pulls.reset();
  pushes.reset();
  builds.reset();
  registries.reset();
  toasts.reset();
  settings.reset();
  troubleshoot.reset();
}
