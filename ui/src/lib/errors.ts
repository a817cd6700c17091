/**
 * Errors from the Skiff backend. Every failed command rejects with
 * `{ kind, message }` (see src-tauri); `api.ts` turns that into an `ApiError`.
 */
export class ApiError extends Error {
  /** Machine-readable class of the failure, e.g. "engine", "not-found". */
  readonly kind: string;

  constructor(kind: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.kind = kind;
  }
}

/** Turns whatever a command rejected with into an `ApiError`. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (typeof err === 'string') return new ApiError('error', err);
  if (err && typeof err === 'object') {
    const o = err as { kind?: unknown; message?: unknown };
    if (typeof o.message === 'string') {
      return new ApiError(typeof o.kind === 'string' ? o.kind : 'error', o.message);
    }
  }
  return new ApiError('error', String(err));
}

/** The text to show a user for a failure. */
export function errorMessage(err: unknown): string {
  return toApiError(err).message;
}
