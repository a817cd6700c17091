/** One NAME=value row of a form (`KeyValueRows.svelte`); `n` keys the row. */
export interface KeyValueRow {
  n: number;
  key: string;
  value: string;
}

/** The rows with a name, as `NAME=value` strings (names trimmed, values kept). */
export function keyValuePairs(rows: KeyValueRow[]): string[] {
  return rows.filter((r) => r.key.trim()).map((r) => `${r.key.trim()}=${r.value}`);
}

/** Whether a row that is not blank has a name `valid` refuses. */
export function hasInvalidKey(rows: KeyValueRow[], valid: RegExp): boolean {
  return rows.some((r) => (r.key.trim() || r.value) && !valid.test(r.key.trim()));
}
