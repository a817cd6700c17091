import { beforeEach, describe, expect, it, vi } from 'vitest';

// The real api.ts over a fake Tauri IPC layer.
const tauri = vi.hoisted(() => ({
  invoke: vi.fn(),
  isTauri: vi.fn(() => true),
  listen: vi.fn(),
}));
vi.mock('@tauri-apps/api/core', () => ({ invoke: tauri.invoke, isTauri: tauri.isTauri }));
vi.mock('@tauri-apps/api/event', () => ({ listen: tauri.listen }));

type Api = typeof import('../lib/api');
const api = await vi.importActual<Api>('../lib/api');

beforeEach(() => {
  tauri.invoke.mockReset().mockResolvedValue(null);
  tauri.listen.mockReset();
  tauri.isTauri.mockReturnValue(true);
});

describe('commands', () => {
  it('use the contract names and camelCase arguments', async () => {
    const calls: [() => Promise<unknown>, string, unknown][] = [
      [() => api.engineStatus(), 'engine_status', undefined],
      [() => api.listContainers(), 'list_containers', undefined],
      [() => api.containerAction('c1', 'restart'), 'container_action', { id: 'c1', action: 'restart' }],
      [() => api.inspectContainer('c1'), 'inspect_container', { id: 'c1' }],
      [() => api.followLogs('c1'), 'follow_logs', { id: 'c1' }],
      [() => api.stopLogs('c1'), 'stop_logs', { id: 'c1' }],
      [() => api.listImages(), 'list_images', undefined],
      [() => api.pullImage('alpine:3.20'), 'pull_image', { reference: 'alpine:3.20' }],
      [() => api.removeImage('sha256:ab', true), 'remove_image', { id: 'sha256:ab', force: true }],
      [() => api.machineInfo(), 'machine_info', undefined],
      [() => api.machineStart(), 'machine_start', undefined],
      [() => api.machineStop(), 'machine_stop', undefined],
      [() => api.machineConsole(50), 'machine_console', { lines: 50 }],
    ];
    for (const [call, cmd, args] of calls) {
      tauri.invoke.mockClear();
      await call();
      expect(tauri.invoke).toHaveBeenCalledExactlyOnceWith(cmd, args);
    }
  });

  it('run_container takes the request object and returns the id', async () => {
    tauri.invoke.mockResolvedValue('abc123');
    const request = { image: 'busybox', name: null, env: ['A=1'], cmd: 'echo hi', autoRemove: true };
    await expect(api.runContainer(request)).resolves.toBe('abc123');
    expect(tauri.invoke).toHaveBeenCalledWith('run_container', { request });
  });

  it('turn { kind, message } rejections into ApiError', async () => {
    tauri.invoke.mockRejectedValue({ kind: 'not-found', message: 'no such container: c9' });
    const err = await api.inspectContainer('c9').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(api.ApiError);
    expect(err).toMatchObject({ kind: 'not-found', message: 'no such container: c9' });

    tauri.invoke.mockRejectedValue('plain string failure');
    await expect(api.listImages()).rejects.toMatchObject({ kind: 'error', message: 'plain string failure' });
  });
});

describe('events', () => {
  it('deliver payloads to the handler until unsubscribed', async () => {
    const unlisten = vi.fn();
    let deliver: (e: { payload: unknown }) => void = () => {};
    tauri.listen.mockImplementation(async (_event: string, h: typeof deliver) => {
      deliver = h;
      return unlisten;
    });
    const seen: unknown[] = [];
    const stop = api.onPullProgress((p) => seen.push(p));
    await stop.ready;
    expect(tauri.listen).toHaveBeenCalledWith('pull-progress', expect.any(Function));
    const payload = { reference: 'a', layer: 'l1', status: 'Downloading', current: 1, total: 2 };
    deliver({ payload });
    expect(seen).toEqual([payload]);
    stop();
    expect(unlisten).toHaveBeenCalledTimes(1);
  });

  it('unlisten even when unsubscribed before listen resolved', async () => {
    const unlisten = vi.fn();
    let resolve: (u: () => void) => void = () => {};
    tauri.listen.mockImplementation(() => new Promise((r) => (resolve = r)));
    const stop = api.onEngineEvent(() => {});
    await vi.waitFor(() => expect(tauri.listen).toHaveBeenCalledWith('engine-event', expect.any(Function)));
    stop();
    expect(unlisten).not.toHaveBeenCalled();
    resolve(unlisten);
    await vi.waitFor(() => expect(unlisten).toHaveBeenCalledTimes(1));
  });

  it('outside Tauri, commands fail with a clear message instead of hanging', async () => {
    tauri.isTauri.mockReturnValue(false);
    await expect(api.engineStatus()).rejects.toMatchObject({ kind: 'no-backend' });
    expect(tauri.invoke).not.toHaveBeenCalled();
  });
});
