import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';

describe('image layers', () => {
  it('shows each layer with its instruction and size', async () => {
    vi.mocked(api.listImages).mockResolvedValue([
      { id: 'sha256:' + 'ab'.repeat(32), repoTags: ['web:1.0'], size: 12_400_000, created: 1_700_000_000, inUse: false },
    ]);
    vi.mocked(api.imageHistory).mockResolvedValue([
      { id: 'sha256:' + 'ab'.repeat(32), created: 1_700_000_000, instruction: 'CMD ["httpd", "-f"]', size: 0, tags: ['web:1.0'], comment: '' },
      { id: '<missing>', created: 1_699_000_000, instruction: 'RUN apk add --no-cache curl', size: 8_200_000, tags: [], comment: '' },
      { id: '<missing>', created: 1_698_000_000, instruction: 'ADD file:9a4f in /', size: 4_200_000, tags: [], comment: '' },
    ]);
    const user = userEvent.setup();
    render(App);
    await user.click(await screen.findByTestId('nav-images'));
    const [row] = await screen.findAllByTestId('image-row');
    await user.click(within(row).getByTestId('image-layers'));
    expect(api.imageHistory).toHaveBeenCalledWith('web:1.0');
    const dialog = await screen.findByTestId('layers-dialog');
    await waitFor(() => expect(within(dialog).getAllByTestId('layer-row')).toHaveLength(3));
    const rows = within(dialog).getAllByTestId('layer-row');
    expect(rows[1]).toHaveTextContent('RUN apk add --no-cache curl');
    expect(rows[1]).toHaveTextContent('8.2 MB');
    expect(rows[0]).toHaveTextContent('0 B');
    expect(dialog).toHaveTextContent('3 steps · 12.4 MB in layers');
  });
});
