import { render, screen, waitFor } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';
import { emit, machineRunning, unreachable } from './fakeApi';

async function showMachine() {
  const user = userEvent.setup();
  render(App);
  await user.click(screen.getByTestId('nav-machine'));
  await screen.findByTestId(/machine-state|machine-empty/);
  return user;
}

describe('machine view', () => {
  it('shows a running machine with its resources; Stop stops it', async () => {
    const user = await showMachine();
    expect(screen.getByTestId('machine-state')).toHaveAttribute('data-state', 'running');
    expect(screen.getByTestId('machine-state')).toHaveTextContent('running');
    expect(screen.getByTestId('machine-cpus')).toHaveTextContent('2');
    expect(screen.getByTestId('machine-memory')).toHaveTextContent('2 GiB');
    expect(screen.getByTestId('machine-disk')).toHaveTextContent('32 GiB');
    expect(screen.getByTestId('machine-start')).toBeDisabled();
    expect(screen.getByTestId('machine-stop')).toBeEnabled();
    await user.click(screen.getByTestId('machine-stop'));
    expect(api.machineStop).toHaveBeenCalledTimes(1);
    expect(api.machineStart).not.toHaveBeenCalled();
  });

  it('starts a stopped machine and shows the start progress', async () => {
    vi.mocked(api.machineInfo).mockResolvedValue({ ...machineRunning(), state: 'stopped' });
    let finish: (v: null) => void = () => {};
    vi.mocked(api.machineStart).mockImplementation(() => new Promise((r) => (finish = r)));
    const user = await showMachine();
    expect(screen.getByTestId('machine-state')).toHaveAttribute('data-state', 'stopped');
    expect(screen.getByTestId('machine-stop')).toBeDisabled();

    await user.click(screen.getByTestId('machine-start'));
    expect(api.machineStart).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId('machine-state')).toHaveAttribute('data-state', 'starting');
    expect(screen.getByTestId('machine-start')).toBeDisabled();

    emit('machine-state', { ...machineRunning(), state: 'starting' });
    emit('machine-progress', { phase: 'booting', message: 'Booting the kernel' });
    await waitFor(() => expect(screen.getByTestId('machine-progress')).toHaveAttribute('data-phase', 'booting'));
    expect(screen.getByTestId('machine-progress')).toHaveTextContent('Booting the kernel');
    emit('machine-progress', { phase: 'engine', message: 'Waiting for the engine' });
    await waitFor(() => expect(screen.getByTestId('machine-progress')).toHaveAttribute('data-phase', 'engine'));

    vi.mocked(api.machineInfo).mockResolvedValue(machineRunning());
    emit('machine-state', machineRunning());
    finish(null);
    await waitFor(() => expect(screen.getByTestId('machine-state')).toHaveAttribute('data-state', 'running'));
    expect(screen.queryByTestId('machine-progress')).toBeNull();
  });

  it('shows why a broken machine is broken', async () => {
    vi.mocked(api.machineInfo).mockResolvedValue({
      ...machineRunning(),
      state: 'broken',
      reason: 'qemu exited with status 1',
    });
    await showMachine();
    expect(screen.getByTestId('machine-state')).toHaveAttribute('data-state', 'broken');
    expect(screen.getByTestId('machine-reason')).toHaveTextContent('qemu exited with status 1');
    expect(screen.getByTestId('machine-start')).toBeEnabled();
  });

  it('shows the start error from the backend', async () => {
    vi.mocked(api.machineInfo).mockResolvedValue({ ...machineRunning(), state: 'stopped' });
    vi.mocked(api.machineStart).mockRejectedValue(new api.ApiError('machine', 'kvm: permission denied on /dev/kvm'));
    const user = await showMachine();
    await user.click(screen.getByTestId('machine-start'));
    expect(await screen.findByTestId('toast-error')).toHaveTextContent('kvm: permission denied on /dev/kvm');
    await waitFor(() => expect(screen.getByTestId('machine-state')).toHaveAttribute('data-state', 'stopped'));
  });

  it('tails the console and refreshes it on machine events', async () => {
    vi.mocked(api.machineConsole).mockResolvedValue(['skiff-init: booted']);
    await showMachine();
    const console = screen.getByTestId('machine-console');
    await waitFor(() => expect(console).toHaveTextContent('skiff-init: booted'));
    expect(api.machineConsole).toHaveBeenCalledWith(200);

    vi.mocked(api.machineConsole).mockResolvedValue(['skiff-init: booted', 'skiff-init: engine ready after 900 ms']);
    emit('machine-progress', { phase: 'ready', message: 'ready' });
    await waitFor(() => expect(console).toHaveTextContent('engine ready after 900 ms'));
    expect(api.machineConsole).toHaveBeenCalledTimes(2);
  });

  it('offers to start when there is no machine yet', async () => {
    vi.mocked(api.machineInfo).mockResolvedValue(null);
    const user = await showMachine();
    expect(screen.getByTestId('machine-empty')).toBeInTheDocument();
    await user.click(screen.getByTestId('machine-start'));
    expect(api.machineStart).toHaveBeenCalledTimes(1);
  });
});

describe('engine banner', () => {
  it('says where the engine was expected and starts the VM', async () => {
    vi.mocked(api.engineStatus).mockResolvedValue(unreachable());
    vi.mocked(api.listContainers).mockRejectedValue(new api.ApiError('engine', 'connection refused'));
    const user = userEvent.setup();
    render(App);
    const banner = await screen.findByTestId('engine-banner');
    expect(banner).toHaveTextContent(
      'Skiff engine is not reachable at unix:///root/.skiff/machines/default/docker.sock',
    );
    expect(banner).toHaveTextContent('connect: connection refused');
    expect(screen.getByTestId('engine-status')).toHaveAttribute('data-state', 'unreachable');
    expect(await screen.findByTestId('containers-engine-down')).toBeInTheDocument();

    await user.click(screen.getByTestId('banner-start-vm'));
    expect(api.machineStart).toHaveBeenCalledTimes(1);
  });

  it('goes away and lists are re-read when the engine comes back', async () => {
    vi.mocked(api.engineStatus).mockResolvedValue(unreachable());
    render(App);
    await screen.findByTestId('engine-banner');
    const before = vi.mocked(api.listContainers).mock.calls.length;
    emit('engine-state', {
      reachable: true,
      endpoint: unreachable().endpoint,
      version: '0.4.0',
      error: null,
    });
    await waitFor(() => expect(screen.queryByTestId('engine-banner')).toBeNull());
    expect(screen.getByTestId('engine-status')).toHaveAttribute('data-state', 'running');
    expect(screen.getByTestId('engine-status')).toHaveTextContent('v0.4.0');
    await waitFor(() => expect(vi.mocked(api.listContainers).mock.calls.length).toBeGreaterThan(before));
    expect(api.listImages).toHaveBeenCalledTimes(2);
  });
});
