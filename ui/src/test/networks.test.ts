import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';
import { emit, network } from './fakeApi';

const bridge = network({
  id: 'b'.repeat(64),
  name: 'bridge',
  subnets: ['172.17.0.0/16'],
  gateways: ['172.17.0.1'],
  predefined: true,
});
const app = network({
  containers: [
    { name: 'db', id: 'd'.repeat(64), ipv4: '172.18.0.2/16', ipv6: '' },
    { name: 'web', id: 'e'.repeat(64), ipv4: '172.18.0.3/16', ipv6: '' },
  ],
});
const empty = network({ id: 'f'.repeat(64), name: 'spare', subnets: [], gateways: [], internal: true });

async function showNetworks(list = [app, bridge, empty]) {
  vi.mocked(api.listNetworks).mockResolvedValue(list);
  const user = userEvent.setup();
  render(App);
  await user.click(screen.getByTestId('nav-networks'));
  await screen.findAllByTestId('network-row');
  return user;
}

const row = (name: string) =>
  screen.getAllByTestId('network-row').find((r) => r.dataset.name === name) as HTMLElement;

describe('networks view', () => {
  it('lists networks with subnet, gateway and the containers with their addresses', async () => {
    await showNetworks();
    const r = within(row('app-net'));
    expect(r.getByText('172.18.0.0/16')).toBeInTheDocument();
    expect(r.getByText(/via 172\.18\.0\.1/)).toBeInTheDocument();
    const attached = r.getAllByTestId('network-container');
    expect(attached.map((a) => a.textContent?.replace(/\s+/g, ' ').trim())).toEqual([
      'db172.18.0.2/16',
      'web172.18.0.3/16',
    ]);
    expect(r.getByTestId('network-remove')).toBeDisabled();
    expect(within(row('bridge')).getByText('predefined')).toBeInTheDocument();
    expect(within(row('bridge')).getByTestId('network-remove')).toBeDisabled();
    expect(within(row('spare')).getByText('internal')).toBeInTheDocument();
    expect(within(row('spare')).getByTestId('network-remove')).toBeEnabled();
  });

  it('creates a network with a subnet and gateway', async () => {
    const user = await showNetworks();
    await user.click(screen.getByTestId('network-create'));
    expect(screen.getByTestId('network-submit')).toBeDisabled();
    await user.type(screen.getByTestId('network-name'), 'backend');
    await user.type(screen.getByTestId('network-gateway'), '10.20.0.1');
    expect(screen.getByText('A gateway needs a subnet.')).toBeInTheDocument();
    expect(screen.getByTestId('network-submit')).toBeDisabled();
    await user.type(screen.getByTestId('network-subnet'), '10.20.0.0/16');
    await user.click(screen.getByTestId('network-internal'));
    await user.click(screen.getByTestId('network-submit'));
    expect(api.createNetwork).toHaveBeenCalledWith({
      name: 'backend',
      driver: 'bridge',
      subnet: '10.20.0.0/16',
      gateway: '10.20.0.1',
      internal: true,
      labels: [],
    });
    await waitFor(() => expect(screen.queryByTestId('network-dialog')).not.toBeInTheDocument());
  });

  it('removes a network after confirming, and the list follows network events', async () => {
    const user = await showNetworks();
    await user.click(within(row('spare')).getByTestId('network-remove'));
    await user.click(screen.getByTestId('confirm-button'));
    expect(api.removeNetwork).toHaveBeenCalledWith('f'.repeat(64));
    vi.mocked(api.listNetworks).mockResolvedValue([app, bridge]);
    emit('engine-event', { Type: 'network', Action: 'destroy', Actor: { ID: 'f'.repeat(64) }, time: 1 });
    await waitFor(() => expect(screen.getAllByTestId('network-row')).toHaveLength(2));
  });
});
