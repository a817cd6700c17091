/** Syntax colouring for pretty-printed JSON (pure). */

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

/**
 * HTML for JSON text with keys, strings, numbers and literals wrapped in
 * `<span class="k|s|n|b">`. Every character of the input is escaped.
 */
export function highlightJson(json: string): string {
  let out = '';
  let last = 0;
  for (const m of json.matchAll(TOKEN)) {
    const at = m.index ?? 0;
    out += escapeHtml(json.slice(last, at));
    if (m[1] !== undefined) {
      const cls = m[2] !== undefined ? 'k' : 's';
      out += `<span class="${cls}">${escapeHtml(m[1])}</span>${m[2] ? escapeHtml(m[2]) : ''}`;
    } else if (m[3] !== undefined) {
      out += `<span class="b">${m[3]}</span>`;
    } else {
      out += `<span class="n">${m[4]}</span>`;
    }
    last = at + m[0].length;
  }
  return out + escapeHtml(json.slice(last));
}
