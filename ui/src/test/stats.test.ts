import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';
import { appendSample } from '../lib/stats';
import { container, emit, listenerCount } from './fakeApi';

const sample = (over: Partial<api.StatsSample> = {}): api.StatsSample => ({
  id: 'x',
  at: 1_000_000,
  cpuPercent: 12.5,
  memory: 40e6,
  memoryLimit: 2e9,
  netRx: 1000,
  netTx: 200,
  blockRead: 4096,
  blockWrite: 0,
  ...over,
});

describe('stats history', () => {
  it('turns totals into rates between samples and keeps the last ones', () => {
    let points = appendSample([], null, sample());
    expect(points[0]).toMatchObject({ cpu: 12.5, memory: 40e6, rx: 0, tx: 0, read: 0 });
    points = appendSample(points, sample(), sample({ at: 1_002_000, netRx: 5000, netTx: 200, blockWrite: 8192 }));
    expect(points[1]).toMatchObject({ rx: 2000, tx: 0, write: 4096 });
    // A counter that went down (restart) is a fresh start, not a negative rate.
    points = appendSample(points, sample({ at: 1_002_000, netRx: 5000 }), sample({ at: 1_003_000, netRx: 10 }));
    expect(points[2].rx).toBe(0);
    let many = points;
    for (let i = 0; i < 10; i++) many = appendSample(many, null, sample({ cpuPercent: i }), 4);
    expect(many.map((p) => p.cpu)).toEqual([6, 7, 8, 9]);
  });
});

describe('stats tab', () => {
  const web = container();

  it('streams only while the tab shows, and charts the samples', async () => {
    vi.mocked(api.listContainers).mockResolvedValue([web]);
    const user = userEvent.setup();
    render(App);
    const [row] = await screen.findAllByTestId('container-row');
    await user.click(within(row).getByTestId('container-name'));
    expect(api.followStats).not.toHaveBeenCalled();

    await user.click(screen.getByTestId('tab-stats'));
    await waitFor(() => expect(api.followStats).toHaveBeenCalledWith(web.id));
    expect(listenerCount('container-stats')).toBe(1);
    emit('container-stats', sample({ id: web.id, at: 1_000_000, cpuPercent: 3 }));
    emit('container-stats', sample({ id: 'other', at: 1_000_500, cpuPercent: 99 }));
    emit('container-stats', sample({ id: web.id, at: 1_001_000, cpuPercent: 42, netRx: 3000 }));
    await waitFor(() => expect(screen.getByTestId('stats-cpu')).toHaveAttribute('data-points', '2'));
    expect(screen.getByTestId('stats-cpu-cpu')).toHaveTextContent('42%');
    expect(screen.getByTestId('stats-network-rx')).toHaveTextContent('2 kB/s');
    expect(screen.getByTestId('stats-memory-memory')).toHaveTextContent('40 MB');

    await user.click(screen.getByTestId('tab-inspect'));
    expect(api.stopStats).toHaveBeenCalledWith(web.id);
    expect(listenerCount('container-stats')).toBe(0);
  });

  it('asks nothing of a stopped container', async () => {
    const stopped = container({ state: 'exited', status: 'Exited (0) 1 minute ago' });
    vi.mocked(api.listContainers).mockResolvedValue([stopped]);
    const user = userEvent.setup();
    render(App);
    const [row] = await screen.findAllByTestId('container-row');
    await user.click(within(row).getByTestId('container-name'));
    await user.click(screen.getByTestId('tab-stats'));
    expect(screen.getByTestId('stats-view')).toHaveTextContent('not running');
    expect(api.followStats).not.toHaveBeenCalled();
  });
});
