/**
 * Light or dark: the setting (System follows the OS through
 * `prefers-color-scheme`, which WebKit takes from the GTK theme) kept in
 * the page's localStorage, and the theme it gives on `<html data-theme>`,
 * which app.css reads.
 */

export type ThemeSetting = 'system' | 'light' | 'dark';

export const THEME_SETTINGS: readonly ThemeSetting[] = ['system', 'light', 'dark'];

const KEY = 'skiff-theme';
const DARK = '(prefers-color-scheme: dark)';

let media: MediaQueryList | null = null;
let current: ThemeSetting = 'system';

function osDark(): boolean {
  return typeof window.matchMedia === 'function' && window.matchMedia(DARK).matches;
}

function paint(): void {
  const dark = current === 'dark' || (current === 'system' && osDark());
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
}

/** The saved setting (System when none or unreadable). */
export function savedTheme(): ThemeSetting {
  try {
    const v = window.localStorage.getItem(KEY);
    return THEME_SETTINGS.includes(v as ThemeSetting) ? (v as ThemeSetting) : 'system';
  } catch {
    return 'system';
  }
}

/** Applies `setting` now and keeps it; System follows OS changes live. */
export function setTheme(setting: ThemeSetting): void {
  current = setting;
  try {
    window.localStorage.setItem(KEY, setting);
  } catch {
    // A page without storage still gets the theme for this session.
  }
  paint();
}

/** Applies the saved setting and follows the OS (call once, before mounting). */
export function initTheme(): void {
  current = savedTheme();
  if (!media && typeof window.matchMedia === 'function') {
    media = window.matchMedia(DARK);
    media.addEventListener?.('change', paint);
  }
  paint();
}
