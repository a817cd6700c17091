/** `KEY=value` lines of a labels text box: blank lines dropped, each trimmed. */
export function labelLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** Why the labels text is not valid, or null. */
export function labelsError(text: string): string | null {
  return labelLines(text).some((l) => l.startsWith('=')) ? 'Every label needs a name before "=".' : null;
}

/** Docker's rule for volume and network names. */
export const OBJECT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
