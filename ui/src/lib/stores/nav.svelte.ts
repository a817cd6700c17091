/** Which view the window shows, and which container's details are open. */
export type View = 'containers' | 'images' | 'machine';

class NavStore {
  view = $state<View>('containers');
  /** Container whose details panel is open, by id. */
  detailsId = $state<string | null>(null);

  /** Shows a view. */
  go(view: View): void {
    this.view = view;
  }

  /** Opens the details panel of a container (on the Containers view). */
  openDetails(id: string): void {
    this.view = 'containers';
    this.detailsId = id;
  }

  /** Closes the details panel. */
  closeDetails(): void {
    this.detailsId = null;
  }

  reset(): void {
    this.view = 'containers';
    this.detailsId = null;
  }
}

/** The app's navigation state. */
export const nav = new NavStore();
