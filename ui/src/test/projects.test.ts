import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';
import { ApiError, container } from './fakeApi';

const t = Math.floor(Date.now() / 1000);
const web = container({
  id: 'a1'.repeat(32),
  name: 'shop-web-1',
  project: 'shop',
  service: 'web',
  health: 'healthy',
  status: 'Up 5 minutes (healthy)',
  ports: '0.0.0.0:8080->80/tcp, 0.0.0.0:8443->443/tcp, 0.0.0.0:5353->53/udp, 9000/tcp',
  published: [8080, 8443],
  created: t - 300,
});
const db = container({
  id: 'a2'.repeat(32),
  name: 'shop-db-1',
  project: 'shop',
  service: 'db',
  state: 'exited',
  status: 'Exited (0) 1 minute ago',
  health: null,
  ports: '',
  published: [],
  created: t - 400,
});
const api2 = container({
  id: 'b1'.repeat(32),
  name: 'blog-app-1',
  project: 'blog',
  service: 'app',
  health: 'unhealthy',
  ports: '',
  published: [],
  created: t - 100,
});
const loose = container({ id: 'c1'.repeat(32), name: 'scratch', ports: '', published: [], created: t - 50 });

async function show(list = [web, db, api2, loose]) {
  vi.mocked(api.listContainers).mockResolvedValue(list);
  const user = userEvent.setup();
  render(App);
  await screen.findAllByTestId('project-row');
  return user;
}

const project = (name: string) =>
  screen.getAllByTestId('project-row').find((r) => r.dataset.project === name) as HTMLElement;
const names = () => screen.getAllByTestId('container-row').map((r) => r.dataset.name);

describe('compose projects in the containers view', () => {
  it('groups containers under their project, projects by name, then the rest', async () => {
    await show();
    expect(screen.getAllByTestId('project-row').map((r) => r.dataset.project)).toEqual(['blog', 'shop']);
    expect(names()).toEqual(['blog-app-1', 'shop-web-1', 'shop-db-1', 'scratch']);
    expect(project('shop')).toHaveAttribute('data-state', 'partial');
    expect(within(project('shop')).getByTestId('project-summary')).toHaveTextContent('1 of 2 running');
    expect(within(project('blog')).getByTestId('project-summary')).toHaveTextContent('1 unhealthy');
    // Collapsing hides the project's containers; ungrouping lists all flat.
    const user = userEvent.setup();
    await user.click(within(project('shop')).getByTestId('project-toggle'));
    expect(names()).toEqual(['blog-app-1', 'scratch']);
    await user.click(screen.getByTestId('group-projects'));
    expect(screen.queryAllByTestId('project-row')).toHaveLength(0);
    expect(names()).toEqual(['scratch', 'blog-app-1', 'shop-web-1', 'shop-db-1']);
  });

  it('starts, stops and (after confirming) removes a whole project', async () => {
    const user = await show();
    await user.click(within(project('shop')).getByTestId('project-start'));
    expect(api.projectAction).toHaveBeenLastCalledWith('shop', 'start');
    await user.click(within(project('shop')).getByTestId('project-stop'));
    expect(api.projectAction).toHaveBeenLastCalledWith('shop', 'stop');
    expect(within(project('blog')).queryByTestId('project-start')).not.toBeInTheDocument();
    await user.click(within(project('shop')).getByTestId('project-remove'));
    const dialog = screen.getByTestId('confirm-dialog');
    expect(dialog).toHaveTextContent('shop-web-1, shop-db-1');
    expect(api.projectAction).not.toHaveBeenCalledWith('shop', 'remove');
    await user.click(screen.getByTestId('confirm-button'));
    expect(api.projectAction).toHaveBeenLastCalledWith('shop', 'remove');
  });

  it('reports a project action that failed for some containers', async () => {
    const user = await show();
    vi.mocked(api.projectAction).mockRejectedValue(new ApiError('partial', 'shop-db-1: port is already allocated'));
    await user.click(within(project('shop')).getByTestId('project-restart'));
    expect(await screen.findByTestId('toast-error')).toHaveTextContent('shop: shop-db-1: port is already allocated');
  });
});

describe('ports and health', () => {
  it('links published TCP ports and opens them through the backend', async () => {
    const user = await show();
    const row = screen.getAllByTestId('container-row').find((r) => r.dataset.name === 'shop-web-1') as HTMLElement;
    const links = within(row).getAllByTestId('port-link');
    expect(links.map((l) => l.dataset.port)).toEqual(['8080', '8443']);
    expect(links[0]).toHaveAttribute('href', 'http://localhost:8080');
    // UDP and unpublished ports are shown, not linked.
    expect(within(row).getByText('5353 → 53/udp').tagName).toBe('SPAN');
    expect(within(row).getByText('9000/tcp').tagName).toBe('SPAN');
    await user.click(links[1]);
    expect(api.openPort).toHaveBeenCalledWith(8443);
    // The click opens the port, not the details panel.
    expect(screen.queryByTestId('details-panel')).not.toBeInTheDocument();
  });

  it('says when the browser could not be opened', async () => {
    const user = await show();
    vi.mocked(api.openPort).mockRejectedValue(new ApiError('internal', 'no browser found'));
    await user.click(screen.getAllByTestId('port-link')[0]);
    expect(await screen.findByTestId('toast-error')).toHaveTextContent(
      'Could not open http://localhost:8080: no browser found',
    );
  });

  it('shows the health of containers that have a healthcheck', async () => {
    await show();
    const healths = screen.getAllByTestId('health').map((h) => h.dataset.health);
    expect(healths).toEqual(['unhealthy', 'healthy']);
    await waitFor(() => expect(screen.getAllByTestId('health')[1]).toHaveTextContent('healthy'));
  });
});
