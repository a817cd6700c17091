import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';
import { joinPath, parentPath, permissions } from '../lib/format';
import { container } from './fakeApi';

const entry = (over: Partial<api.FileEntry>): api.FileEntry => ({
  name: 'x',
  kind: 'file',
  size: 0,
  mode: 0o644,
  modified: 1_700_000_000,
  target: null,
  ...over,
});

describe('path helpers', () => {
  it('formats modes and walks paths', () => {
    expect(permissions(0o755)).toBe('rwxr-xr-x');
    expect(permissions(0o640)).toBe('rw-r-----');
    expect(parentPath('/etc/ssl')).toBe('/etc');
    expect(parentPath('/etc')).toBe('/');
    expect(joinPath('/', 'etc')).toBe('/etc');
    expect(joinPath('/etc', 'passwd')).toBe('/etc/passwd');
  });
});

describe('files tab', () => {
  it('browses directories and downloads a file', async () => {
    const web = container();
    vi.mocked(api.listContainers).mockResolvedValue([web]);
    vi.mocked(api.listFiles).mockImplementation(async (_id, path) =>
      path === '/'
        ? { path: '/', truncated: false, entries: [entry({ name: 'etc', kind: 'dir', mode: 0o755 })] }
        : {
            path: '/etc',
            truncated: true,
            entries: [entry({ name: 'hostname', size: 13 }), entry({ name: 'mtab', kind: 'link', target: '/proc/mounts' })],
          },
    );
    const user = userEvent.setup();
    render(App);
    const [row] = await screen.findAllByTestId('container-row');
    await user.click(within(row).getByTestId('container-name'));
    await user.click(screen.getByTestId('tab-files'));
    await waitFor(() => expect(api.listFiles).toHaveBeenCalledWith(web.id, '/'));

    const etc = await screen.findByRole('button', { name: /etc/ });
    await user.click(etc);
    await waitFor(() => expect(screen.getByTestId('files-view')).toHaveAttribute('data-path', '/etc'));
    expect(screen.getByText(/only part of it was read/)).toBeInTheDocument();
    const rows = screen.getAllByTestId('file-row');
    expect(rows.map((r) => r.dataset.name)).toEqual(['hostname', 'mtab']);
    expect(rows[1]).toHaveTextContent('→ /proc/mounts');
    expect(within(rows[1]).queryByTestId('file-download')).toBeNull();

    await user.click(within(rows[0]).getByTestId('file-download'));
    expect(api.downloadFile).toHaveBeenCalledWith(web.id, '/etc/hostname');
    expect(await screen.findByText(/Saved hostname to \/home\/user\/Downloads\/hostname/)).toBeInTheDocument();

    await user.click(screen.getByTestId('files-up'));
    await waitFor(() => expect(screen.getByTestId('files-view')).toHaveAttribute('data-path', '/'));
  });
});
