import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';
import { ApiError } from '../lib/errors';
import { changeOf, checkForm, sizeText } from '../lib/stores/settings.svelte';
import { machineRunning, settingsOf } from './fakeApi';

async function showSettings() {
  const user = userEvent.setup();
  render(App);
  await user.click(screen.getByTestId('nav-settings'));
  await screen.findByTestId('settings-cpus');
  return user;
}

describe('settings form rules', () => {
  it('reads sizes and folders as the machine does', () => {
    const form = { cpus: 2, memory: '4G', disk: '64G', mounts: '/a\n\n /b:/c:ro ', defaultMounts: false };
    expect(checkForm(form, 8)).toEqual({});
    expect(changeOf(form)).toEqual({ cpus: 2, memory: '4G', disk: '64G', mounts: ['/a', '/b:/c:ro'] });
    expect(changeOf({ ...form, defaultMounts: true }).mounts).toBeNull();
    expect(checkForm({ ...form, memory: '4 GiB' }, 8)).toEqual({});
    expect(checkForm({ ...form, memory: '4X' }, 8).memory).toMatch(/4G/);
    expect(checkForm({ ...form, cpus: 9 }, 8).cpus).toBe('This computer has 8.');
    expect(checkForm({ ...form, mounts: 'relative/x' }, 8).mounts).toMatch(/absolute/);
    expect(sizeText(4096)).toBe('4G');
    expect(sizeText(1536)).toBe('1536M');
  });
});

describe('settings view', () => {
  it('shows the saved settings and applies a change after saying the VM restarts', async () => {
    vi.mocked(api.applyMachineSettings).mockResolvedValue({
      restarted: true,
      settings: { ...settingsOf(), cpus: 4, memoryMib: 6144 },
    });
    const user = await showSettings();
    expect(screen.getByTestId('settings-cpus')).toHaveValue(2);
    expect(screen.getByTestId('settings-memory')).toHaveValue('2G');
    expect(screen.getByTestId('settings-disk')).toHaveValue('32G');
    expect(screen.getByTestId('settings-restart-note')).toHaveTextContent('restarts the VM');
    expect(screen.getByTestId('settings-apply')).toBeDisabled();

    await user.clear(screen.getByTestId('settings-cpus'));
    await user.type(screen.getByTestId('settings-cpus'), '4');
    await user.clear(screen.getByTestId('settings-memory'));
    await user.type(screen.getByTestId('settings-memory'), '6G');
    await user.click(screen.getByTestId('settings-apply'));
    const dialog = await screen.findByTestId('confirm-dialog');
    expect(dialog).toHaveTextContent('Restart the machine?');
    expect(api.applyMachineSettings).not.toHaveBeenCalled();
    await user.click(within(dialog).getByTestId('confirm-button'));
    await waitFor(() =>
      expect(api.applyMachineSettings).toHaveBeenCalledWith({ cpus: 4, memory: '6G', disk: '32G', mounts: null }),
    );
    await waitFor(() => expect(screen.getByTestId('settings-memory')).toHaveValue('6G'));
  });

  it('refuses a bad unit before asking, and shows the machine’s own refusal', async () => {
    vi.mocked(api.applyMachineSettings).mockRejectedValue(
      new ApiError('invalid_request', 'Invalid setting memory: 100 MiB is not within 256 MiB..1 TiB.'),
    );
    vi.mocked(api.machineInfo).mockResolvedValue({ ...machineRunning(), state: 'stopped' });
    const user = await showSettings();
    await user.clear(screen.getByTestId('settings-memory'));
    await user.type(screen.getByTestId('settings-memory'), '3Q');
    expect(screen.getByTestId('settings-memory-problem')).toBeInTheDocument();
    expect(screen.getByTestId('settings-apply')).toBeDisabled();
    await user.clear(screen.getByTestId('settings-memory'));
    await user.type(screen.getByTestId('settings-memory'), '100M');
    await waitFor(() => expect(screen.getByTestId('settings-restart-note')).toHaveTextContent('next start'));
    await user.click(screen.getByTestId('settings-apply'));
    await user.click(within(await screen.findByTestId('confirm-dialog')).getByTestId('confirm-button'));
    expect(await screen.findByTestId('settings-error')).toHaveTextContent('256 MiB');
  });

  it('changes the disk only through a confirmed reset', async () => {
    const user = await showSettings();
    await user.clear(screen.getByTestId('settings-disk'));
    await user.type(screen.getByTestId('settings-disk'), '100G');
    expect(screen.getByTestId('settings-apply')).toBeDisabled();
    await user.click(screen.getByTestId('settings-reset'));
    const dialog = await screen.findByTestId('confirm-dialog');
    expect(dialog).toHaveTextContent('deleted');
    await user.click(within(dialog).getByTestId('cancel-button'));
    expect(api.recreateMachine).not.toHaveBeenCalled();
    await user.click(screen.getByTestId('settings-reset'));
    await user.click(within(await screen.findByTestId('confirm-dialog')).getByTestId('confirm-button'));
    await waitFor(() =>
      expect(api.recreateMachine).toHaveBeenCalledWith({ cpus: 2, memory: '2G', disk: '100G', mounts: null }),
    );
  });

  it('lists the docker contexts and switches', async () => {
    const user = await showSettings();
    const rows = await screen.findAllByTestId('context-row');
    expect(rows.map((r) => r.dataset.name)).toEqual(['default', 'skiff']);
    const skiff = rows.find((r) => r.dataset.name === 'skiff');
    expect(skiff).toHaveAttribute('data-current', 'true');
    const dflt = screen.getAllByTestId('context-row').find((r) => r.dataset.name === 'default');
    if (!dflt) throw new Error('no default context row');
    await user.click(within(dflt).getByTestId('context-use'));
    expect(api.useDockerContext).toHaveBeenCalledWith('default');
    await waitFor(() =>
      expect(screen.getAllByTestId('context-row').find((r) => r.dataset.name === 'default')).toHaveAttribute(
        'data-current',
        'true',
      ),
    );
  });

  it('turns start at login on and sets the theme', async () => {
    const user = await showSettings();
    const toggle = await screen.findByTestId('autostart-toggle');
    await waitFor(() => expect(toggle).toBeEnabled());
    expect(toggle).not.toBeChecked();
    await user.click(toggle);
    expect(api.setAutostart).toHaveBeenCalledWith(true);
    expect(await screen.findByTestId('autostart-location')).toHaveTextContent('autostart/skiff-desktop.desktop');

    await user.click(screen.getByTestId('theme-dark'));
    expect(document.documentElement.dataset.theme).toBe('dark');
    expect(localStorage.getItem('skiff-theme')).toBe('dark');
    expect(screen.getByTestId('theme-dark')).toHaveAttribute('aria-checked', 'true');
    await user.click(screen.getByTestId('theme-light'));
    expect(document.documentElement.dataset.theme).toBe('light');
    await user.click(screen.getByTestId('theme-system'));
    // jsdom's matchMedia says light.
    expect(document.documentElement.dataset.theme).toBe('light');
  });

  it('says there is no machine yet', async () => {
    vi.mocked(api.machineSettings).mockResolvedValue(null);
    const user = userEvent.setup();
    render(App);
    await user.click(screen.getByTestId('nav-settings'));
    expect(await screen.findByTestId('settings-no-machine')).toHaveTextContent('no machine yet');
  });
});
