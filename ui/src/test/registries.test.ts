import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';

async function showRegistries(list: api.SignedIn[] = []) {
  vi.mocked(api.listRegistries).mockResolvedValue(list);
  const user = userEvent.setup();
  render(App);
  await user.click(screen.getByTestId('nav-registries'));
  return user;
}

describe('registries', () => {
  it('lists sign-ins with where each secret is kept', async () => {
    await showRegistries([
      { server: 'https://index.docker.io/v1/', username: 'alice', store: 'keychain' },
      { server: 'ghcr.io', username: null, store: 'helper pass' },
    ]);
    const rows = await screen.findAllByTestId('registry-row');
    expect(rows).toHaveLength(2);
    expect(within(rows[0]).getByText('Docker Hub')).toBeInTheDocument();
    expect(rows[0]).toHaveTextContent('OS keychain');
    expect(rows[1]).toHaveTextContent('Helper: pass');
  });

  it('signs in, clears the password and lists the new sign-in', async () => {
    const user = await showRegistries();
    expect(await screen.findByTestId('registries-empty')).toBeInTheDocument();
    await user.type(screen.getByTestId('registry-server'), '127.0.0.1:5000');
    await user.type(screen.getByTestId('registry-username'), 'alice');
    await user.type(screen.getByTestId('registry-password'), 's3cret');
    vi.mocked(api.listRegistries).mockResolvedValue([{ server: '127.0.0.1:5000', username: 'alice', store: 'keychain' }]);
    await user.click(screen.getByTestId('registry-submit'));
    expect(api.registrySignIn).toHaveBeenCalledWith({ server: '127.0.0.1:5000', username: 'alice', password: 's3cret' });
    await screen.findByTestId('registry-row');
    expect(screen.getByTestId('registry-password')).toHaveValue('');
  });

  it('shows the refusal and keeps the form', async () => {
    vi.mocked(api.registrySignIn).mockRejectedValue(
      new api.ApiError('engine_error', 'login attempt to http://127.0.0.1:5000/v2/ failed with status: 401 Unauthorized.'),
    );
    const user = await showRegistries();
    await user.type(screen.getByTestId('registry-username'), 'alice');
    await user.type(screen.getByTestId('registry-password'), 'wrong');
    await user.click(screen.getByTestId('registry-submit'));
    expect(await screen.findByTestId('registry-error')).toHaveTextContent('401 Unauthorized');
    expect(screen.getByTestId('registry-username')).toHaveValue('alice');
  });

  it('signs out', async () => {
    const user = await showRegistries([{ server: 'ghcr.io', username: 'bob', store: 'keychain' }]);
    vi.mocked(api.listRegistries).mockResolvedValue([]);
    await user.click(await screen.findByTestId('registry-signout'));
    expect(api.registrySignOut).toHaveBeenCalledWith('ghcr.io');
    await waitFor(() => expect(screen.queryByTestId('registry-row')).toBeNull());
  });
});
