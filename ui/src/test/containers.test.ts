import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';
import { container, emit, listenerCount } from './fakeApi';

const web = container();
const db = container({
  id: 'db00000000000000000000000000000000000000000000000000000000000002',
  name: 'db',
  image: 'postgres:16',
  ports: '127.0.0.1:5432->5432/tcp',
  created: Math.floor(Date.now() / 1000) - 7200,
});
const job = container({
  id: 'b0b0000000000000000000000000000000000000000000000000000000000003',
  name: 'nightly-job',
  image: 'busybox:latest',
  state: 'exited',
  status: 'Exited (0) 2 hours ago',
  ports: '',
  created: Math.floor(Date.now() / 1000) - 86400 * 3,
});

async function showContainers(list = [web, db, job]) {
  vi.mocked(api.listContainers).mockResolvedValue(list);
  const user = userEvent.setup();
  render(App);
  await screen.findAllByTestId('container-row');
  return user;
}

const row = (name: string) =>
  screen.getAllByTestId('container-row').find((r) => r.dataset.name === name) as HTMLElement;

describe('containers list', () => {
  it('renders one row per container with name, image, state, created and ports', async () => {
    await showContainers();
    const rows = screen.getAllByTestId('container-row');
    expect(rows.map((r) => r.dataset.name)).toEqual(['web', 'db', 'nightly-job']);
    const r = within(row('web'));
    expect(r.getByText('nginx:1.27')).toBeInTheDocument();
    expect(r.getByTestId('state')).toHaveAttribute('data-state', 'running');
    expect(r.getByText('Up 5 minutes')).toBeInTheDocument();
    expect(r.getByText('5 minutes ago')).toBeInTheDocument();
    expect(r.getByText('8080 → 80/tcp')).toBeInTheDocument();
    expect(within(row('nightly-job')).getByTestId('state')).toHaveAttribute('data-state', 'exited');
    expect(within(row('nightly-job')).getByText('3 days ago')).toBeInTheDocument();
  });

  it('filters by the search box and by state', async () => {
    const user = await showContainers();
    await user.type(screen.getByTestId('container-search'), 'postgres');
    expect(screen.getAllByTestId('container-row').map((r) => r.dataset.name)).toEqual(['db']);
    await user.clear(screen.getByTestId('container-search'));
    await user.type(screen.getByTestId('container-search'), 'nothing-matches');
    expect(screen.queryAllByTestId('container-row')).toHaveLength(0);
    expect(screen.getByTestId('containers-no-match')).toBeInTheDocument();
    await user.clear(screen.getByTestId('container-search'));
    await user.click(screen.getByTestId('filter-stopped'));
    expect(screen.getAllByTestId('container-row').map((r) => r.dataset.name)).toEqual(['nightly-job']);
    await user.click(screen.getByTestId('filter-running'));
    expect(screen.getAllByTestId('container-row').map((r) => r.dataset.name)).toEqual(['web', 'db']);
  });

  it('shows a docker run hint when there are no containers', async () => {
    render(App);
    const empty = await screen.findByTestId('containers-empty');
    expect(empty).toHaveTextContent('docker run -d --name web -p 8080:80 nginx');
    expect(empty).toHaveTextContent('export DOCKER_HOST=unix:///root/.skiff/machines/default/docker.sock');
  });
});

describe('a long list', () => {
  const many = Array.from({ length: 1000 }, (_, i) =>
    container({
      id: `${String(i).padStart(4, '0')}`.padEnd(64, 'a'),
      name: `bench-${i}`,
      created: 1_700_000_000 + i,
    }),
  );

  it('renders only the rows near the viewport, and follows the scroll', async () => {
    await showContainers(many);
    const table = screen.getByTestId('container-table');
    expect(table.dataset.count).toBe('1000');
    expect(table.dataset.windowed).toBe('true');
    const rows = screen.getAllByTestId('container-row');
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.length).toBeLessThan(100);
    // Newest first.
    expect(rows[0].dataset.name).toBe('bench-999');
    const scroll = screen.getByTestId('container-scroll');
    scroll.scrollTop = 44 * 500;
    scroll.dispatchEvent(new Event('scroll'));
    await waitFor(() => expect(row('bench-499')).toBeTruthy());
    expect(row('bench-999')).toBeUndefined();
    expect(screen.getAllByTestId('container-row').length).toBeLessThan(100);
  });

  it('keeps short lists whole', async () => {
    // rowWindow's own test covers the threshold; rendering it here is slow.
    await showContainers(many.slice(0, 40));
    expect(screen.getAllByTestId('container-row')).toHaveLength(40);
    expect(screen.getByTestId('container-table').dataset.windowed).toBe('false');
  });
});

describe('container actions', () => {
  it('row buttons call container_action with the row id', async () => {
    const user = await showContainers();
    expect(within(row('web')).queryByTestId('action-start')).toBeNull();
    await user.click(within(row('web')).getByTestId('action-stop'));
    expect(api.containerAction).toHaveBeenLastCalledWith(web.id, 'stop');
    await user.click(within(row('nightly-job')).getByTestId('action-start'));
    expect(api.containerAction).toHaveBeenLastCalledWith(job.id, 'start');
    await user.click(within(row('db')).getByTestId('action-restart'));
    expect(api.containerAction).toHaveBeenLastCalledWith(db.id, 'restart');
  });

  it('removes a stopped container without asking', async () => {
    const user = await showContainers();
    await user.click(within(row('nightly-job')).getByTestId('action-remove'));
    expect(screen.queryByTestId('confirm-dialog')).toBeNull();
    expect(api.containerAction).toHaveBeenCalledWith(job.id, 'remove');
  });

  it('asks before removing a running container', async () => {
    const user = await showContainers();
    await user.click(within(row('web')).getByTestId('action-remove'));
    const dialog = screen.getByTestId('confirm-dialog');
    expect(dialog).toHaveTextContent('web is running');
    expect(api.containerAction).not.toHaveBeenCalled();

    await user.click(screen.getByTestId('cancel-button'));
    expect(screen.queryByTestId('confirm-dialog')).toBeNull();
    expect(api.containerAction).not.toHaveBeenCalled();

    await user.click(within(row('web')).getByTestId('action-remove'));
    await user.click(screen.getByTestId('confirm-button'));
    expect(api.containerAction).toHaveBeenCalledExactlyOnceWith(web.id, 'remove');
    expect(screen.queryByTestId('confirm-dialog')).toBeNull();
  });

  it('bulk actions act on every selected container', async () => {
    const user = await showContainers();
    expect(screen.queryByTestId('bulk-actions')).toBeNull();
    await user.click(within(row('web')).getByTestId('container-select'));
    await user.click(within(row('nightly-job')).getByTestId('container-select'));
    expect(screen.getByTestId('bulk-actions')).toHaveTextContent('2 selected');
    await user.click(screen.getByTestId('bulk-restart'));
    expect(vi.mocked(api.containerAction).mock.calls).toEqual([
      [web.id, 'restart'],
      [job.id, 'restart'],
    ]);

    vi.mocked(api.containerAction).mockClear();
    await user.click(screen.getByTestId('bulk-remove'));
    expect(screen.getByTestId('confirm-dialog')).toHaveTextContent('1 of them is running');
    await user.click(screen.getByTestId('confirm-button'));
    expect(vi.mocked(api.containerAction).mock.calls).toEqual([
      [web.id, 'remove'],
      [job.id, 'remove'],
    ]);
  });

  it('select-all ticks every visible row', async () => {
    const user = await showContainers();
    await user.click(screen.getByTestId('filter-running'));
    await user.click(screen.getByTestId('select-all'));
    expect(screen.getByTestId('bulk-actions')).toHaveTextContent('2 selected');
    await user.click(screen.getByTestId('bulk-stop'));
    expect(vi.mocked(api.containerAction).mock.calls).toEqual([
      [web.id, 'stop'],
      [db.id, 'stop'],
    ]);
  });

  it('shows the backend error message when an action fails', async () => {
    const user = await showContainers();
    vi.mocked(api.containerAction).mockRejectedValue(
      new api.ApiError('engine', 'container web is already stopping'),
    );
    await user.click(within(row('web')).getByTestId('action-stop'));
    expect(await screen.findByTestId('toast-error')).toHaveTextContent('web: container web is already stopping');
  });
});

describe('live updates', () => {
  it('re-fetches the list once after a burst of container events', async () => {
    await showContainers([web]);
    expect(api.listContainers).toHaveBeenCalledTimes(1);
    vi.mocked(api.listContainers).mockResolvedValue([web, job]);
    for (const Action of ['create', 'start', 'die']) {
      emit('engine-event', { Type: 'container', Action, Actor: { ID: job.id }, time: 1 });
    }
    await waitFor(() => expect(screen.getAllByTestId('container-row')).toHaveLength(2));
    expect(api.listContainers).toHaveBeenCalledTimes(2);
  });

  it('ignores events that change nothing in the list', async () => {
    await showContainers([web]);
    emit('engine-event', { Type: 'container', Action: 'exec_start: sh', Actor: { ID: web.id }, time: 1 });
    emit('engine-event', { Type: 'network', Action: 'connect', Actor: { ID: 'n' }, time: 1 });
    await new Promise((r) => setTimeout(r, 400));
    expect(api.listContainers).toHaveBeenCalledTimes(1);
  });
});

describe('details panel', () => {
  it('follows logs live and stops following when closed', async () => {
    const user = await showContainers();
    await user.click(within(row('web')).getByTestId('container-name'));
    const panel = screen.getByTestId('details-panel');
    expect(panel).toHaveAttribute('data-id', web.id);
    await waitFor(() => expect(api.followLogs).toHaveBeenCalledWith(web.id));
    expect(listenerCount('container-log')).toBe(1);

    emit('container-log', { id: web.id, stream: 'stdout', line: 'listening on :80' });
    emit('container-log', { id: db.id, stream: 'stdout', line: 'from another container' });
    emit('container-log', { id: web.id, stream: 'stderr', line: '\u001b[31merror\u001b[0m: favicon missing' });
    const output = screen.getByTestId('logs-output');
    await waitFor(() => expect(output).toHaveTextContent('listening on :80'));
    expect(output).toHaveTextContent('error: favicon missing');
    expect(output).not.toHaveTextContent('from another container');
    expect(within(output).getByText('error: favicon missing')).toHaveClass('stderr');

    await user.click(screen.getByTestId('details-close'));
    expect(screen.queryByTestId('details-panel')).toBeNull();
    expect(api.stopLogs).toHaveBeenCalledWith(web.id);
    expect(listenerCount('container-log')).toBe(0);
  });

  it('asks for logs only once the log listener is registered', async () => {
    let ready: () => void = () => {};
    vi.mocked(api.onContainerLog).mockImplementationOnce(() =>
      Object.assign(() => {}, { ready: new Promise<void>((r) => (ready = r)) }),
    );
    const user = await showContainers();
    await user.click(within(row('web')).getByTestId('container-name'));
    await new Promise((r) => setTimeout(r, 50));
    expect(api.followLogs).not.toHaveBeenCalled();
    ready();
    await waitFor(() => expect(api.followLogs).toHaveBeenCalledWith(web.id));
  });

  it('switching containers stops the old stream and follows the new one', async () => {
    const user = await showContainers();
    await user.click(within(row('web')).getByTestId('container-name'));
    await waitFor(() => expect(api.followLogs).toHaveBeenCalledWith(web.id));
    // The scrim covers the table; open another container the way a keyboard user would.
    const { nav } = await import('../lib/stores');
    nav.openDetails(db.id);
    await waitFor(() => expect(api.followLogs).toHaveBeenCalledWith(db.id));
    expect(api.stopLogs).toHaveBeenCalledWith(web.id);
    expect(listenerCount('container-log')).toBe(1);
  });

  it('shows inspect output as pretty JSON', async () => {
    vi.mocked(api.inspectContainer).mockResolvedValue({ Id: web.id, State: { Running: true, Pid: 42 } });
    const user = await showContainers();
    await user.click(within(row('web')).getByTestId('container-name'));
    await user.click(screen.getByTestId('tab-inspect'));
    const out = await screen.findByTestId('inspect-output');
    expect(api.inspectContainer).toHaveBeenCalledWith(web.id);
    expect(out.textContent).toBe(JSON.stringify({ Id: web.id, State: { Running: true, Pid: 42 } }, null, 2));
  });
});
