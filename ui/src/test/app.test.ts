import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import App from '../App.svelte';
import { listenerCount } from './fakeApi';

describe('app shell', () => {
  it('navigates between the three views from the sidebar', async () => {
    const user = userEvent.setup();
    render(App);
    expect(screen.getByTestId('view-containers')).toBeInTheDocument();
    expect(screen.getByTestId('nav-containers')).toHaveAttribute('aria-current', 'page');
    await user.click(screen.getByTestId('nav-images'));
    expect(screen.getByTestId('view-images')).toBeInTheDocument();
    expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('Images');
    await user.click(screen.getByTestId('nav-machine'));
    expect(screen.getByTestId('view-machine')).toBeInTheDocument();
    expect(screen.getByTestId('nav-containers')).not.toHaveAttribute('aria-current');
  });

  it('shows the engine version in the status pill', async () => {
    render(App);
    const pill = screen.getByTestId('engine-status');
    expect(pill).toHaveAttribute('data-state', 'connecting');
    await screen.findByText('v0.4.0');
    expect(pill).toHaveAttribute('data-state', 'running');
    expect(pill).toHaveTextContent('Engine running');
  });

  it('subscribes to the app-wide events once and unsubscribes on unmount', async () => {
    const { unmount } = render(App);
    for (const e of ['engine-event', 'engine-state', 'machine-state', 'pull-progress', 'pull-done'] as const) {
      expect(listenerCount(e)).toBe(1);
    }
    unmount();
    for (const e of ['engine-event', 'engine-state', 'machine-state', 'pull-progress', 'pull-done'] as const) {
      expect(listenerCount(e)).toBe(0);
    }
  });
});
