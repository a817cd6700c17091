import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.svelte';
import * as api from '../lib/api';
import { builds } from '../lib/stores';
import { emit, image } from './fakeApi';

async function openBuild() {
  vi.mocked(api.listImages).mockResolvedValue([image()]);
  const user = userEvent.setup();
  render(App);
  await user.click(screen.getByTestId('nav-images'));
  await user.click(await screen.findByTestId('build-open'));
  return user;
}

describe('build dialog', () => {
  it('picks a folder and its Dockerfile, then builds with tag and build args', async () => {
    vi.mocked(api.listFolder).mockImplementation(async (path) =>
      path === '/home/user/web'
        ? { path, parent: '/home/user', folders: ['src'], dockerfiles: ['Dockerfile', 'Dockerfile.dev'] }
        : { path: '/home/user', parent: '/home', folders: ['web', 'notes'], dockerfiles: [] },
    );
    let finish: (id: string) => void = () => {};
    vi.mocked(api.buildImage).mockImplementation(() => new Promise((r) => (finish = r)));
    const user = await openBuild();
    await user.click(screen.getByTestId('build-browse'));
    const picker = await screen.findByTestId('folder-picker');
    await user.click(await within(picker).findByText('web'));
    await waitFor(() => expect(within(picker).getByTestId('folder-path')).toHaveTextContent('/home/user/web'));
    await user.click(within(picker).getByTestId('folder-choose'));
    expect(screen.getByTestId('build-context')).toHaveValue('/home/user/web');
    await user.selectOptions(screen.getByTestId('build-dockerfile'), 'Dockerfile.dev');
    await user.type(screen.getByTestId('build-tag'), 'web:dev');
    await user.click(screen.getByTestId('build-arg-add'));
    await user.type(screen.getByTestId('build-arg-key'), 'VERSION');
    await user.type(screen.getByTestId('build-arg-value'), '1.2');
    await user.click(screen.getByTestId('build-submit'));

    const request = vi.mocked(api.buildImage).mock.calls[0][0];
    expect(request).toMatchObject({
      context: '/home/user/web',
      dockerfile: 'Dockerfile.dev',
      tag: 'web:dev',
      buildArgs: ['VERSION=1.2'],
    });
    expect(await screen.findByTestId('build-phase')).toHaveAttribute('data-phase', 'building');
    emit('build-log', { build: request.build, line: 'Step 1/2 : FROM busybox' });
    emit('build-log', { build: 'someone-else', line: 'not ours' });
    emit('build-log', { build: request.build, line: ' ---> a1b2c3' });
    await waitFor(() => expect(screen.getByTestId('build-log')).toHaveTextContent('Step 1/2 : FROM busybox'));
    expect(screen.getByTestId('build-log')).not.toHaveTextContent('not ours');
    expect(screen.getByTestId('build-submit')).toBeDisabled();
    finish('sha256:b111d000000000000000000000000000000000000000000000000000000000001');
    await waitFor(() => expect(screen.getByTestId('build-phase')).toHaveAttribute('data-phase', 'done'));
    expect(screen.getByTestId('build-phase')).toHaveTextContent('web:dev');
    await user.click(screen.getByTestId('build-run'));
    expect(await screen.findByTestId('run-dialog')).toBeInTheDocument();
    expect(screen.getByTestId('run-image')).toHaveValue('web:dev');
  });

  it('shows the engine refusal and the log up to it', async () => {
    vi.mocked(api.buildImage).mockImplementation(async (r) => {
      emit('build-log', { build: r.build, line: 'Step 2/2 : RUN false' });
      emit('build-done', { build: r.build, image: null, error: "The command '/bin/sh -c false' returned a non-zero code: 1." });
      throw new api.ApiError('engine_error', "The command '/bin/sh -c false' returned a non-zero code: 1.");
    });
    const user = await openBuild();
    await user.type(screen.getByTestId('build-context'), '/srv/app');
    await user.click(screen.getByTestId('build-submit'));
    expect(await screen.findByTestId('build-error')).toHaveTextContent('returned a non-zero code: 1');
    expect(screen.getByTestId('build-phase')).toHaveAttribute('data-phase', 'failed');
    expect(screen.getByTestId('build-log')).toHaveTextContent('RUN false');
    expect(builds.running).toBe(false);
  });

  it('refuses relative folders, bad tags and nameless build args before asking', async () => {
    const user = await openBuild();
    await user.type(screen.getByTestId('build-context'), 'relative/dir');
    expect(screen.getByTestId('build-submit')).toBeDisabled();
    await user.clear(screen.getByTestId('build-context'));
    await user.type(screen.getByTestId('build-context'), '/srv/app');
    await user.type(screen.getByTestId('build-tag'), 'Web:Dev');
    expect(screen.getByTestId('build-submit')).toBeDisabled();
    await user.clear(screen.getByTestId('build-tag'));
    await user.click(screen.getByTestId('build-arg-add'));
    await user.type(screen.getByTestId('build-arg-value'), 'x');
    expect(screen.getByTestId('build-submit')).toBeDisabled();
    expect(api.buildImage).not.toHaveBeenCalled();
  });
});

describe('builds store', () => {
  it('keeps the newest lines only and ignores events of other builds', async () => {
    let finish: (id: string) => void = () => {};
    vi.mocked(api.buildImage).mockImplementation(() => new Promise((r) => (finish = r)));
    const done = builds.start({ context: '/x', dockerfile: null, tag: null, buildArgs: [] });
    const id = builds.current!.id;
    for (let i = 0; i < 5010; i++) builds.line({ build: id, line: `l${i}` });
    expect(builds.current!.lines).toHaveLength(5000);
    expect(builds.current!.lines[0]).toBe('l10');
    builds.finish({ build: 'other', image: 'sha256:x', error: null });
    expect(builds.running).toBe(true);
    finish('sha256:abc');
    await done;
    expect(builds.current).toMatchObject({ done: true, image: 'sha256:abc', error: null });
  });
});
