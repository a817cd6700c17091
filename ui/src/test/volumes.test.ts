import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';
import { nav } from '../lib/stores';
import { ApiError, emit, volume } from './fakeApi';

const data = volume({ name: 'app-data', usedBy: ['db', 'web'] });
const cache = volume({ name: 'cache', created: null });
const anon = volume({ name: 'ab'.repeat(32) });

async function showVolumes(list = [data, cache, anon]) {
  vi.mocked(api.listVolumes).mockResolvedValue(list);
  const user = userEvent.setup();
  render(App);
  await user.click(screen.getByTestId('nav-volumes'));
  await screen.findAllByTestId('volume-row');
  return user;
}

const row = (name: string) =>
  screen.getAllByTestId('volume-row').find((r) => r.dataset.name === name) as HTMLElement;

describe('volumes view', () => {
  it('lists volumes with driver, created and the containers using them', async () => {
    await showVolumes();
    expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('Volumes');
    expect(screen.getAllByTestId('volume-row').map((r) => r.dataset.name)).toEqual([
      'app-data',
      'cache',
      'ab'.repeat(32),
    ]);
    const r = within(row('app-data'));
    expect(r.getByText('db')).toBeInTheDocument();
    expect(r.getByText('web')).toBeInTheDocument();
    expect(r.getByText('1 hour ago')).toBeInTheDocument();
    expect(r.getByTestId('volume-remove')).toBeDisabled();
    expect(within(row('cache')).getByText('Unused')).toBeInTheDocument();
    expect(within(row('ab'.repeat(32))).getByText('anonymous')).toBeInTheDocument();
    expect(screen.getByText('3 volumes · 2 unused')).toBeInTheDocument();
  });

  it('creates a volume with labels, refusing a bad name first', async () => {
    const user = await showVolumes();
    await user.click(screen.getByTestId('volume-create'));
    await user.type(screen.getByTestId('volume-name'), '-bad');
    expect(screen.getByTestId('volume-submit')).toBeDisabled();
    await user.clear(screen.getByTestId('volume-name'));
    await user.type(screen.getByTestId('volume-name'), 'logs');
    await user.type(screen.getByTestId('volume-labels'), 'team=web\n\n');
    vi.mocked(api.listVolumes).mockResolvedValue([data, cache, anon, volume({ name: 'logs' })]);
    await user.click(screen.getByTestId('volume-submit'));
    expect(api.createVolume).toHaveBeenCalledWith({ name: 'logs', driver: 'local', labels: ['team=web'] });
    await waitFor(() => expect(screen.queryByTestId('volume-dialog')).not.toBeInTheDocument());
    expect(await screen.findByTestId('toast-success')).toHaveTextContent('Created volume logs');
    await waitFor(() => expect(row('logs')).toBeDefined());
  });

  it('shows the engine refusing a create in the dialog', async () => {
    const user = await showVolumes();
    vi.mocked(api.createVolume).mockRejectedValue(new ApiError('engine', 'volume name is too long'));
    await user.click(screen.getByTestId('volume-create'));
    await user.click(screen.getByTestId('volume-submit'));
    expect(await screen.findByTestId('volume-error')).toHaveTextContent('volume name is too long');
    expect(screen.getByTestId('volume-dialog')).toBeInTheDocument();
  });

  it('removes an unused volume after confirming', async () => {
    const user = await showVolumes();
    await user.click(within(row('cache')).getByTestId('volume-remove'));
    await user.click(screen.getByTestId('confirm-button'));
    expect(api.removeVolume).toHaveBeenCalledWith('cache', false);
  });

  it('prunes, named volumes too when asked, and says what it freed', async () => {
    const user = await showVolumes();
    vi.mocked(api.pruneVolumes).mockResolvedValue({ removed: ['cache'], spaceReclaimed: 2_500_000 });
    await user.click(screen.getByTestId('volume-prune'));
    await user.click(screen.getByTestId('prune-all'));
    await user.click(screen.getByTestId('confirm-button'));
    expect(api.pruneVolumes).toHaveBeenCalledWith(true);
    expect(await screen.findByTestId('toast-success')).toHaveTextContent('1 volume removed · 2.5 MB freed');
  });

  it('re-reads the list on volume events (not on mount/unmount) and on container starts', async () => {
    await showVolumes();
    vi.mocked(api.listVolumes).mockClear();
    emit('engine-event', { Type: 'volume', Action: 'mount', Actor: { ID: 'cache' }, time: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(api.listVolumes).not.toHaveBeenCalled();
    vi.mocked(api.listVolumes).mockResolvedValue([cache]);
    emit('engine-event', { Type: 'volume', Action: 'destroy', Actor: { ID: 'app-data' }, time: 2 });
    await waitFor(() => expect(screen.getAllByTestId('volume-row')).toHaveLength(1));
    vi.mocked(api.listVolumes).mockClear();
    emit('engine-event', { Type: 'container', Action: 'start', Actor: { ID: 'x' }, time: 3 });
    await waitFor(() => expect(api.listVolumes).toHaveBeenCalledTimes(1));
  });
});

describe('view state', () => {
  it('is saved on navigation and restored by a new page', async () => {
    const user = userEvent.setup();
    const first = render(App);
    await user.click(screen.getByTestId('nav-volumes'));
    expect(api.saveViewState).toHaveBeenLastCalledWith({ view: 'volumes', detailsId: null });
    first.unmount();
    nav.reset();
    vi.mocked(api.viewState).mockResolvedValue({ view: 'networks', detailsId: null });
    render(App);
    expect(await screen.findByTestId('view-networks')).toBeInTheDocument();
  });

  it('ignores a saved state it does not understand', async () => {
    vi.mocked(api.viewState).mockResolvedValue({ view: 'settings' });
    render(App);
    await waitFor(() => expect(api.viewState).toHaveBeenCalled());
    await new Promise((r) => setTimeout(r, 50));
    expect(screen.getByTestId('view-containers')).toBeInTheDocument();
  });
});
