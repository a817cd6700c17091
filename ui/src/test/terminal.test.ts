import { describe, expect, it, vi } from 'vitest';
import * as api from '../lib/api';
import { TerminalSession, type TerminalState } from '../lib/terminal';
import { emit, listenerCount } from './fakeApi';

const SESSION = 'e7ec0000000000000000000000000000000000000000000000000000000000e1';

function session() {
  const written: string[] = [];
  const states: [TerminalState, string | null][] = [];
  const s = new TerminalSession('web', 'bash', (d) => written.push(d), (st, d) => states.push([st, d]));
  return { s, written, states };
}

describe('terminal session', () => {
  it('opens a TTY, shows output (also what came before the answer), types, resizes and closes', async () => {
    const { s, written, states } = session();
    vi.mocked(api.terminalOpen).mockImplementation(async () => {
      // The shell's prompt can arrive before terminal_open answers.
      emit('terminal-output', { session: SESSION, data: '/ # ' });
      emit('terminal-output', { session: 'other', data: 'not mine' });
      return SESSION;
    });
    await s.open(100, 30);
    expect(api.terminalOpen).toHaveBeenCalledWith('web', 'bash', 100, 30);
    expect(states[states.length - 1]).toEqual(['open', null]);
    emit('terminal-output', { session: SESSION, data: 'echo hi\r\nhi\r\n' });
    emit('terminal-output', { session: 'other', data: 'nope' });
    expect(written).toEqual(['/ # ', 'echo hi\r\nhi\r\n']);

    s.input('ls\r');
    s.resize(120, 40);
    expect(api.terminalInput).toHaveBeenCalledWith(SESSION, 'ls\r');
    expect(api.terminalResize).toHaveBeenCalledWith(SESSION, 120, 40);

    s.close();
    expect(api.terminalClose).toHaveBeenCalledWith(SESSION);
    expect(listenerCount('terminal-output')).toBe(0);
    expect(listenerCount('terminal-exit')).toBe(0);
  });

  it('types in order: one input call in flight, what is typed meanwhile sent next, together', async () => {
    const { s } = session();
    await s.open(80, 24);
    const calls: string[] = [];
    const answers: (() => void)[] = [];
    vi.mocked(api.terminalInput).mockImplementation(async (_session, data) => {
      calls.push(data);
      await new Promise<void>((resolve) => answers.push(resolve));
      return null;
    });
    for (const key of 'echo $(hostname)\r') s.input(key);
    // The first key goes at once; the rest waits for its answer.
    expect(calls).toEqual(['e']);
    answers.shift()?.();
    await vi.waitFor(() => expect(calls).toEqual(['e', 'cho $(hostname)\r']));
    s.input('x');
    expect(calls.length).toBe(2);
    answers.shift()?.();
    await vi.waitFor(() => expect(calls).toEqual(['e', 'cho $(hostname)\r', 'x']));
    answers.shift()?.();
    s.close();
  });

  it('reports the end with its exit code and a failure to open', async () => {
    const { s, states } = session();
    await s.open(80, 24);
    emit('terminal-exit', { session: SESSION, code: 130 });
    expect(states[states.length - 1]).toEqual(['ended', 'exit code 130']);
    s.input('x');
    expect(api.terminalInput).not.toHaveBeenCalled();

    const failing = session();
    vi.mocked(api.terminalOpen).mockRejectedValue(new api.ApiError('conflict', 'container web is not running'));
    await failing.s.open(80, 24);
    expect(failing.states[failing.states.length - 1]).toEqual(['failed', 'container web is not running']);
  });
});
