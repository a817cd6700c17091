/** Short notices in the corner of the window: failures and completions. */
export interface Toast {
  id: number;
  kind: 'error' | 'success' | 'info';
  message: string;
}

const LIFETIME_MS = 7000;

class ToastStore {
  items = $state<Toast[]>([]);
  #next = 1;

  /** Shows a notice for a few seconds. */
  push(kind: Toast['kind'], message: string): void {
    const id = this.#next++;
    this.items.push({ id, kind, message });
    setTimeout(() => this.dismiss(id), kind === 'error' ? LIFETIME_MS * 2 : LIFETIME_MS);
  }

  /** Shows a failure. */
  error(message: string): void {
    this.push('error', message);
  }

  dismiss(id: number): void {
    this.items = this.items.filter((t) => t.id !== id);
  }

  reset(): void {
    this.items = [];
  }
}

/** The app's notices. */
export const toasts = new ToastStore();
