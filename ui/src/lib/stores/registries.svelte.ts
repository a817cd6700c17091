/** The registries signed in to, and signing in and out. */
import * as api from '../api';
import { errorMessage } from '../errors';
import { toasts } from './toasts.svelte';

class RegistriesStore {
  items = $state<api.SignedIn[]>([]);
  loaded = $state(false);
  error = $state<string | null>(null);
  /** Servers being signed out of. */
  leaving = $state<Record<string, boolean>>({});

  async load(): Promise<void> {
    try {
      this.items = await api.listRegistries();
      this.error = null;
    } catch (err) {
      this.error = errorMessage(err);
    } finally {
      this.loaded = true;
    }
  }

  /** Signs in; throws the engine's refusal for the form to show. */
  async signIn(request: api.SignInRequest): Promise<api.SignedIn> {
    const signed = await api.registrySignIn(request);
    toasts.push('success', `Signed in to ${displayServer(signed.server)} as ${signed.username ?? request.username}`);
    await this.load();
    return signed;
  }

  async signOut(server: string): Promise<void> {
    this.leaving[server] = true;
    try {
      await api.registrySignOut(server);
      toasts.push('success', `Signed out of ${displayServer(server)}`);
    } catch (err) {
      toasts.error(`Could not sign out of ${displayServer(server)}: ${errorMessage(err)}`);
    } finally {
      delete this.leaving[server];
      await this.load();
    }
  }

  reset(): void {
    this.items = [];
    this.loaded = false;
    this.error = null;
    this.leaving = {};
  }
}

/** Docker Hub's key shown as its name. */
export function displayServer(server: string): string {
  return server === 'https://index.docker.io/v1/' ? 'Docker Hub' : server;
}

/** The app's registries. */
export const registries = new RegistriesStore();
