/**
 * Which view the window shows, and which container's details are open.
 * Kept in the app (`save_view_state`) on every change, so a window the tray
 * re-creates comes back where it was (`restore`).
 */
import * as api from '../api';

export type View =
  | 'containers'
  | 'images'
  | 'volumes'
  | 'networks'
  | 'registries'
  | 'machine'
  | 'settings'
  | 'troubleshoot';

export const VIEWS: readonly View[] = [
  'containers',
  'images',
  'volumes',
  'networks',
  'registries',
  'machine',
  'settings',
  'troubleshoot',
];

/** What `save_view_state` keeps. */
export interface SavedView {
  view: View;
  detailsId: string | null;
}

function isSavedView(v: unknown): v is SavedView {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    VIEWS.includes(s.view as View) && (s.detailsId === null || typeof s.detailsId === 'string')
  );
}

class NavStore {
  view = $state<View>('containers');
  /** Container whose details panel is open, by id. */
  detailsId = $state<string | null>(null);

  /** Shows a view. */
  go(view: View): void {
    this.view = view;
    this.#save();
  }

  /** Opens the details panel of a container (on the Containers view). */
  openDetails(id: string): void {
    this.view = 'containers';
    this.detailsId = id;
    this.#save();
  }

  /** Closes the details panel. */
  closeDetails(): void {
    this.detailsId = null;
    this.#save();
  }

  #changed = 0;

  /** Comes back to the view the app kept (unless the user moved first). */
  async restore(): Promise<void> {
    const before = this.#changed;
    let saved: unknown;
    try {
      saved = await api.viewState();
    } catch {
      return;
    }
    if (before !== this.#changed || !isSavedView(saved)) return;
    this.view = saved.view;
    this.detailsId = saved.detailsId;
  }

  #save(): void {
    this.#changed++;
    const state: SavedView = { view: this.view, detailsId: this.detailsId };
    api.saveViewState(state).catch(() => {});
  }

  reset(): void {
    this.#changed = 0;
    this.view = 'containers';
    this.detailsId = null;
  }
}

/** The app's navigation state. */
export const nav = new NavStore();
