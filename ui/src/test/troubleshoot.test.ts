import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';
import { ApiError } from '../lib/errors';

async function showTroubleshoot() {
  const user = userEvent.setup();
  render(App);
  await user.click(screen.getByTestId('nav-troubleshoot'));
  await screen.findByTestId('troubleshoot-view');
  return user;
}

describe('troubleshoot view', () => {
  it('shows the engine log and the VM console', async () => {
    vi.mocked(api.engineLog).mockResolvedValue({
      source: "skiffd's lines of the machine's console",
      lines: ['2026-12-08T00:51:02.1Z  INFO skiffd_api: listening on unix:///run/skiff/docker.sock'],
    });
    vi.mocked(api.machineConsole).mockResolvedValue(['[    0.000000] Linux version 6.12', 'skiff-init: booted']);
    const user = await showTroubleshoot();
    await waitFor(() => expect(screen.getByTestId('engine-log')).toHaveTextContent('listening on unix'));
    expect(api.engineLog).toHaveBeenCalledWith(500);
    expect(screen.getByTestId('engine-log-source')).toHaveTextContent('console');
    await user.click(screen.getByTestId('tab-vm-log'));
    await waitFor(() => expect(screen.getByTestId('machine-console')).toHaveTextContent('skiff-init: booted'));
  });

  it('says why there is no engine log', async () => {
    vi.mocked(api.engineLog).mockRejectedValue(
      new ApiError('machine_unavailable', 'The app uses the engine at unix:///x.sock, not one in a Skiff machine.'),
    );
    await showTroubleshoot();
    expect(await screen.findByTestId('engine-log-error')).toHaveTextContent('not one in a Skiff machine');
  });

  it('restarts the engine after confirming, and shows a refusal', async () => {
    const user = await showTroubleshoot();
    await user.click(screen.getByTestId('engine-restart'));
    const dialog = await screen.findByTestId('confirm-dialog');
    expect(api.restartEngine).not.toHaveBeenCalled();
    await user.click(within(dialog).getByTestId('confirm-button'));
    await waitFor(() => expect(api.restartEngine).toHaveBeenCalledTimes(1));

    vi.mocked(api.restartEngine).mockRejectedValue(new ApiError('conflict', 'The machine is stopped: start it instead.'));
    await user.click(screen.getByTestId('engine-restart'));
    await user.click(within(await screen.findByTestId('confirm-dialog')).getByTestId('confirm-button'));
    expect(await screen.findByTestId('restart-error')).toHaveTextContent('start it instead');
  });
});
