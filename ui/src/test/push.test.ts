import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';
import { emit, image } from './fakeApi';

const app = image({ repoTags: ['127.0.0.1:5000/team/app:1'] });

async function showImages() {
  vi.mocked(api.listImages).mockResolvedValue([app, image({ id: 'sha256:' + 'c'.repeat(64), repoTags: [], created: 1 })]);
  const user = userEvent.setup();
  render(App);
  await user.click(screen.getByTestId('nav-images'));
  await screen.findAllByTestId('image-row');
  return user;
}

describe('pushing', () => {
  it('pushes a tagged image and draws per-layer progress', async () => {
    vi.mocked(api.pushImage).mockImplementation(() => new Promise(() => {}));
    const user = await showImages();
    const rows = screen.getAllByTestId('image-row');
    expect(within(rows[1]).queryByTestId('image-push')).toBeNull();
    await user.click(within(rows[0]).getByTestId('image-push'));
    expect(api.pushImage).toHaveBeenCalledWith('127.0.0.1:5000/team/app:1');
    const progress = (layer: string | null, status: string, current: number | null = null, total: number | null = null) =>
      emit('push-progress', { reference: '127.0.0.1:5000/team/app:1', layer, status, current, total });
    progress(null, 'The push refers to repository [127.0.0.1:5000/team/app]');
    progress('a1', 'Preparing');
    progress('b2', 'Preparing');
    progress('a1', 'Pushing', 512, 2048);
    progress('b2', 'Layer already exists');
    const card = await screen.findByTestId('push-progress');
    await waitFor(() => expect(within(card).getAllByTestId('layer-progress')).toHaveLength(2));
    const layer = (id: string) => within(card).getAllByTestId('layer-progress').find((l) => l.dataset.layer === id)!;
    expect(layer('a1')).toHaveAttribute('data-percent', '25');
    expect(layer('b2')).toHaveAttribute('data-percent', '100');
    expect(within(rows[0]).getByTestId('image-push')).toBeDisabled();
    emit('push-done', { reference: '127.0.0.1:5000/team/app:1', digest: 'sha256:feed', error: null });
    await waitFor(() => expect(card).toHaveAttribute('data-phase', 'done'));
    expect(within(card).getByTestId('pull-status')).toHaveTextContent('sha256:feed');
  });

  it('shows the registry refusal', async () => {
    vi.mocked(api.pushImage).mockRejectedValue(new api.ApiError('engine_error', 'unauthorized: authentication required'));
    const user = await showImages();
    await user.click(within(screen.getAllByTestId('image-row')[0]).getByTestId('image-push'));
    const card = await screen.findByTestId('push-progress');
    await waitFor(() => expect(card).toHaveAttribute('data-phase', 'failed'));
    expect(card).toHaveTextContent('unauthorized: authentication required');
  });
});

describe('tag picker', () => {
  it('lists the registry tags of the typed repository and fills the pull bar', async () => {
    vi.mocked(api.registryTags).mockResolvedValue(['3.20', '3.19', 'edge', 'latest']);
    const user = await showImages();
    await user.type(screen.getByTestId('pull-input'), '127.0.0.1:5000/lib/alpine:old');
    await user.click(screen.getByTestId('pull-tags'));
    expect(api.registryTags).toHaveBeenCalledWith('127.0.0.1:5000/lib/alpine');
    const picker = await screen.findByTestId('tag-picker');
    await waitFor(() => expect(within(picker).getAllByTestId('tag-option')).toHaveLength(4));
    await user.type(within(picker).getByTestId('tag-filter'), '3.');
    expect(within(picker).getAllByTestId('tag-option').map((t) => t.dataset.tag)).toEqual(['3.20', '3.19']);
    await user.click(within(picker).getByText('3.19'));
    expect(screen.queryByTestId('tag-picker')).toBeNull();
    expect(screen.getByTestId('pull-input')).toHaveValue('127.0.0.1:5000/lib/alpine:3.19');
    await user.click(screen.getByTestId('pull-button'));
    expect(api.pullImage).toHaveBeenCalledWith('127.0.0.1:5000/lib/alpine:3.19');
  });

  it('says why a registry lists nothing', async () => {
    vi.mocked(api.registryTags).mockRejectedValue(new api.ApiError('not_found', 'docker.io lists no tags for nope.'));
    const user = await showImages();
    await user.type(screen.getByTestId('pull-input'), 'nope');
    await user.click(screen.getByTestId('pull-tags'));
    expect(await screen.findByTestId('tag-error')).toHaveTextContent('lists no tags');
  });
});

describe('run with published ports', () => {
  it('sends the ports and refuses malformed ones', async () => {
    const user = await showImages();
    await user.click(within(screen.getAllByTestId('image-row')[0]).getByTestId('image-run'));
    await user.type(screen.getByTestId('run-ports'), '8080:80 x:1');
    expect(screen.getByTestId('run-submit')).toBeDisabled();
    await user.clear(screen.getByTestId('run-ports'));
    await user.type(screen.getByTestId('run-ports'), '8080:80, 127.0.0.1:5353:53/udp');
    await user.click(screen.getByTestId('run-submit'));
    expect(vi.mocked(api.runContainer).mock.calls[0][0].ports).toEqual(['8080:80', '127.0.0.1:5353:53/udp']);
  });
});
