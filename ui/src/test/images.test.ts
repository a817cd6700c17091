import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';
import { nav } from '../lib/stores';
import { emit, image } from './fakeApi';

const alpine = image();
const nginx = image({
  id: 'sha256:ff00ee11dd22cc33bb44aa55ff00ee11dd22cc33bb44aa55ff00ee11dd22cc33',
  repoTags: ['nginx:1.27', 'nginx:latest'],
  size: 192_600_000,
  inUse: true,
  created: Math.floor(Date.now() / 1000) - 86400 * 14,
});

async function showImages(list = [alpine, nginx]) {
  vi.mocked(api.listImages).mockResolvedValue(list);
  const user = userEvent.setup();
  render(App);
  await user.click(screen.getByTestId('nav-images'));
  if (list.length) await screen.findAllByTestId('image-row');
  return user;
}

const row = (ref: string) =>
  screen.getAllByTestId('image-row').find((r) => r.dataset.ref === ref) as HTMLElement;

describe('images list', () => {
  it('renders repository, tag, short id, size, created and the in-use marker', async () => {
    await showImages();
    expect(screen.getAllByTestId('image-row').map((r) => r.dataset.ref)).toEqual(['alpine:3.20', 'nginx:1.27']);
    const a = within(row('alpine:3.20'));
    expect(a.getByText('alpine')).toBeInTheDocument();
    expect(a.getByText('3.20')).toBeInTheDocument();
    expect(a.getByText('aa11bb22cc33')).toBeInTheDocument();
    expect(a.getByText('7.8 MB')).toBeInTheDocument();
    expect(a.getByText('3 days ago')).toBeInTheDocument();
    expect(a.queryByTestId('image-in-use')).toBeNull();
    const n = within(row('nginx:1.27'));
    expect(n.getByText('193 MB')).toBeInTheDocument();
    expect(n.getByText('+1')).toBeInTheDocument();
    expect(n.getByTestId('image-in-use')).toHaveTextContent('In use');
  });

  it('suggests pulling when there are no images', async () => {
    const user = await showImages([]);
    expect(await screen.findByTestId('images-empty')).toHaveTextContent('docker pull alpine');
    await user.click(screen.getAllByTestId('pull-suggestion')[0]);
    expect(api.pullImage).toHaveBeenCalledWith('alpine');
    expect(await screen.findByTestId('pull-progress')).toHaveAttribute('data-reference', 'alpine');
  });

  it('re-fetches on image events', async () => {
    await showImages([alpine]);
    vi.mocked(api.listImages).mockResolvedValue([alpine, nginx]);
    emit('engine-event', { Type: 'image', Action: 'pull', Actor: { ID: 'nginx:1.27' }, time: 1 });
    await waitFor(() => expect(screen.getAllByTestId('image-row')).toHaveLength(2));
  });
});

describe('pulling', () => {
  it('pulls the typed reference and draws per-layer progress from events', async () => {
    const user = await showImages();
    await user.type(screen.getByTestId('pull-input'), 'redis:7{Enter}');
    expect(api.pullImage).toHaveBeenCalledWith('redis:7');
    expect(screen.getByTestId('pull-input')).toHaveValue('');

    const progress = (layer: string | null, status: string, current: number | null = null, total: number | null = null) =>
      emit('pull-progress', { reference: 'redis:7', layer, status, current, total });
    progress(null, 'Pulling from library/redis');
    progress('a1', 'Pulling fs layer');
    progress('b2', 'Pulling fs layer');
    progress('a1', 'Downloading', 250, 1000);
    progress('b2', 'Downloading', 900, 1000);

    const card = await screen.findByTestId('pull-progress');
    expect(card).toHaveAttribute('data-reference', 'redis:7');
    await waitFor(() => expect(within(card).getByTestId('pull-status')).toHaveTextContent('Pulling from library/redis'));
    const layers = () => within(card).getAllByTestId('layer-progress');
    await waitFor(() => expect(layers().map((l) => l.dataset.percent)).toEqual(['25', '90']));
    expect(layers()[0].querySelector<HTMLElement>('.fill')?.style.width).toBe('25%');

    progress('a1', 'Downloading', 750, 1000);
    progress('b2', 'Pull complete');
    await waitFor(() => expect(layers().map((l) => l.dataset.percent)).toEqual(['75', '100']));
    expect(card).toHaveTextContent('1/2 layers');

    vi.mocked(api.listImages).mockClear();
    emit('pull-done', { reference: 'redis:7', error: null });
    await waitFor(() => expect(card).toHaveAttribute('data-phase', 'done'));
    await waitFor(() => expect(api.listImages).toHaveBeenCalled());
  });

  it('matches events that name the image in its normal form', async () => {
    const user = await showImages();
    await user.type(screen.getByTestId('pull-input'), 'alpine');
    await user.click(screen.getByTestId('pull-button'));
    emit('pull-progress', {
      reference: 'docker.io/library/alpine:latest',
      layer: 'c3',
      status: 'Downloading',
      current: 1,
      total: 2,
    });
    await waitFor(() => expect(screen.getAllByTestId('pull-progress')).toHaveLength(1));
    expect(screen.getByTestId('pull-progress')).toHaveAttribute('data-reference', 'alpine');
    expect(screen.getByTestId('layer-progress')).toHaveAttribute('data-percent', '50');
  });

  it('shows why a pull failed', async () => {
    const user = await showImages();
    await user.type(screen.getByTestId('pull-input'), 'nope:1{Enter}');
    emit('pull-done', { reference: 'nope:1', error: 'manifest for nope:1 not found' });
    const card = await screen.findByTestId('pull-progress');
    await waitFor(() => expect(card).toHaveAttribute('data-phase', 'failed'));
    expect(card).toHaveTextContent('manifest for nope:1 not found');
  });

  it('shows the message when pull_image itself is refused', async () => {
    vi.mocked(api.pullImage).mockRejectedValue(new api.ApiError('invalid', 'invalid reference format: "UPPER"'));
    const user = await showImages();
    await user.type(screen.getByTestId('pull-input'), 'UPPER{Enter}');
    await waitFor(() => expect(screen.getByTestId('pull-progress')).toHaveAttribute('data-phase', 'failed'));
    expect(screen.getByTestId('pull-progress')).toHaveTextContent('invalid reference format: "UPPER"');
  });
});

describe('removing images', () => {
  it('removes an unused image without force', async () => {
    const user = await showImages();
    await user.click(within(row('alpine:3.20')).getByTestId('image-remove'));
    expect(api.removeImage).toHaveBeenCalledWith(alpine.id, false);
  });

  it('asks, then forces, for an image in use', async () => {
    const user = await showImages();
    await user.click(within(row('nginx:1.27')).getByTestId('image-remove'));
    expect(api.removeImage).not.toHaveBeenCalled();
    expect(screen.getByTestId('confirm-dialog')).toHaveTextContent('nginx:1.27 is used by one or more containers');
    await user.click(screen.getByTestId('confirm-button'));
    expect(api.removeImage).toHaveBeenCalledExactlyOnceWith(nginx.id, true);
  });

  it('shows the backend message when removal fails', async () => {
    vi.mocked(api.removeImage).mockRejectedValue(new api.ApiError('conflict', 'image is referenced in multiple repositories'));
    const user = await showImages();
    await user.click(within(row('alpine:3.20')).getByTestId('image-remove'));
    expect(await screen.findByTestId('toast-error')).toHaveTextContent('image is referenced in multiple repositories');
  });
});

describe('run dialog', () => {
  it('builds the run_container request and switches to Containers', async () => {
    const user = await showImages();
    await user.click(within(row('nginx:1.27')).getByTestId('image-run'));
    const dialog = screen.getByTestId('run-dialog');
    expect(within(dialog).getByTestId('run-image')).toHaveValue('nginx:1.27');
    await user.type(within(dialog).getByTestId('run-name'), 'web-dev');
    await user.click(within(dialog).getByTestId('run-env-add'));
    await user.click(within(dialog).getByTestId('run-env-add'));
    const keys = within(dialog).getAllByTestId('run-env-key');
    const values = within(dialog).getAllByTestId('run-env-value');
    await user.type(keys[0], 'MODE');
    await user.type(values[0], 'dev=1');
    await user.type(keys[1], 'EMPTY');
    await user.type(within(dialog).getByTestId('run-cmd'), 'nginx -g "daemon off;"');
    await user.click(within(dialog).getByTestId('run-autoremove'));
    await user.click(within(dialog).getByTestId('run-submit'));

    expect(api.runContainer).toHaveBeenCalledExactlyOnceWith({
      image: 'nginx:1.27',
      name: 'web-dev',
      env: ['MODE=dev=1', 'EMPTY='],
      cmd: 'nginx -g "daemon off;"',
      autoRemove: true,
      ports: [],
    });
    await waitFor(() => expect(screen.queryByTestId('run-dialog')).toBeNull());
    expect(nav.view).toBe('containers');
    expect(screen.getByTestId('view-containers')).toBeInTheDocument();
  });

  it('sends nulls for an empty name and command', async () => {
    const user = await showImages();
    await user.click(within(row('alpine:3.20')).getByTestId('image-run'));
    await user.click(screen.getByTestId('run-env-add'));
    await user.click(screen.getByTestId('run-submit'));
    expect(api.runContainer).toHaveBeenCalledWith({
      image: 'alpine:3.20',
      name: null,
      env: [],
      cmd: null,
      autoRemove: false,
      ports: [],
    });
  });

  it('keeps the dialog open and shows the error when the run fails', async () => {
    vi.mocked(api.runContainer).mockRejectedValue({ kind: 'conflict', message: 'the container name "/web" is already in use' });
    const user = await showImages();
    await user.click(within(row('alpine:3.20')).getByTestId('image-run'));
    await user.type(screen.getByTestId('run-name'), 'web');
    await user.click(screen.getByTestId('run-submit'));
    expect(await screen.findByTestId('run-error')).toHaveTextContent('the container name "/web" is already in use');
    expect(screen.getByTestId('run-dialog')).toBeInTheDocument();
    expect(nav.view).toBe('images');
  });

  it('refuses an invalid name before calling the backend', async () => {
    const user = await showImages();
    await user.click(within(row('alpine:3.20')).getByTestId('image-run'));
    await user.type(screen.getByTestId('run-name'), 'bad name!');
    expect(screen.getByTestId('run-submit')).toBeDisabled();
  });
});
