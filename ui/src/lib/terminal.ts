/**
 * One terminal session (`docker exec -it`) seen from the page, apart from
 * the widget that draws it: it opens the session, hands its output to
 * `write` (also what arrived before `terminal_open` answered with the
 * session's id), types, resizes and closes it.
 */
import * as api from './api';
import { errorMessage } from './errors';

export type TerminalState = 'connecting' | 'open' | 'ended' | 'failed';

export class TerminalSession {
  session: string | null = null;
  #early: api.TerminalOutput[] = [];
  #unsubscribe: api.Unsubscribe[] = [];
  #closed = false;
  /** Typed input not yet handed to the app (see `input`). */
  #pending = '';
  #sending = false;

  constructor(
    readonly container: string,
    readonly shell: string,
    private readonly write: (data: string) => void,
    private readonly onState: (state: TerminalState, detail: string | null) => void,
  ) {}

  /** Opens the session with a `cols`×`rows` TTY. */
  async open(cols: number, rows: number): Promise<void> {
    this.onState('connecting', null);
    const output = api.onTerminalOutput((o) => {
      if (this.session === null) this.#early.push(o);
      else if (o.session === this.session) this.write(o.data);
    });
    const exit = api.onTerminalExit((e) => {
      if (e.session !== this.session) return;
      this.session = null;
      this.onState('ended', e.code === null ? null : `exit code ${e.code}`);
    });
    this.#unsubscribe = [output, exit];
    try {
      await Promise.all([output.ready, exit.ready]);
      const session = await api.terminalOpen(this.container, this.shell, cols, rows);
      if (this.#closed) {
        void api.terminalClose(session).catch(() => {});
        return;
      }
      this.session = session;
      for (const o of this.#early.splice(0)) if (o.session === session) this.write(o.data);
      this.onState('open', null);
    } catch (err) {
      this.onState('failed', errorMessage(err));
    }
  }

  /**
   * Types `data`. One `terminal_input` call is in flight at a time, and
   * what is typed meanwhile goes in the next one: the app runs concurrent
   * calls on several threads, so keystrokes sent as calls of their own
   * could reach the shell out of order.
   */
  input(data: string): void {
    if (!this.session) return;
    this.#pending += data;
    if (!this.#sending) void this.#send();
  }

  async #send(): Promise<void> {
    this.#sending = true;
    try {
      while (this.#pending && this.session) {
        const data = this.#pending;
        this.#pending = '';
        await api.terminalInput(this.session, data).catch(() => {});
      }
    } finally {
      this.#sending = false;
    }
  }

  /** Resizes the TTY. */
  resize(cols: number, rows: number): void {
    if (this.session && cols > 0 && rows > 0) void api.terminalResize(this.session, cols, rows).catch(() => {});
  }

  /** Closes the session and stops listening. */
  close(): void {
    this.#closed = true;
    for (const u of this.#unsubscribe) u();
    this.#unsubscribe = [];
    if (this.session) void api.terminalClose(this.session).catch(() => {});
    this.session = null;
  }
}
