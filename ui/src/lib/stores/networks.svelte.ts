/** The network list, refreshed on demand and on engine events. */
import * as api from '../api';
import { ListStore } from './list.svelte';

class NetworksStore extends ListStore<api.NetworkSummary> {
  constructor() {
    super(() => api.listNetworks());
  }

  /** Removes a network. */
  async remove(network: api.NetworkSummary): Promise<boolean> {
    const done = await this.run(network.id, 'removing', network.name, () =>
      api.removeNetwork(network.id).then(() => true),
    );
    return done === true;
  }
}

/** The app's network list. */
export const networks = new NetworksStore();
