/** The volume list, refreshed on demand and on engine events. */
import * as api from '../api';
import { humanSize } from '../format';
import { ListStore } from './list.svelte';
import { toasts } from './toasts.svelte';

class VolumesStore extends ListStore<api.VolumeSummary> {
  constructor() {
    super(() => api.listVolumes());
  }

  /** Removes a volume. */
  async remove(name: string, force = false): Promise<boolean> {
    const done = await this.run(name, 'removing', name, () => api.removeVolume(name, force).then(() => true));
    return done === true;
  }

  /** Removes the unused volumes (`all`: named ones too) and says what it freed. */
  async prune(all: boolean): Promise<api.PruneResult | null> {
    const result = await this.run('prune', 'pruning', 'Could not prune volumes', () => api.pruneVolumes(all));
    if (result) {
      const n = result.removed.length;
      toasts.push(
        'success',
        n === 0
          ? 'No unused volumes to remove'
          : `${n} volume${n === 1 ? '' : 's'} removed · ${humanSize(result.spaceReclaimed)} freed`,
      );
    }
    return result;
  }
}

/** The app's volume list. */
export const volumes = new VolumesStore();
