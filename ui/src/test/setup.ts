import '@testing-library/jest-dom/vitest';
import { configure } from '@testing-library/svelte';
import { beforeEach, vi } from 'vitest';
import { resetStores } from '../lib/stores';
import { resetFake } from './fakeApi';

// Every component test talks to the fake backend; api.test.ts reaches the
// real module with vi.importActual.
vi.mock('../lib/api', () => import('./fakeApi'));

// CI shares two cores with cargo builds: give async assertions room.
configure({ asyncUtilTimeout: 4000 });

beforeEach(() => {
  resetFake();
  resetStores();
});

// jsdom has no matchMedia nor ResizeObserver; the chart library (layerchart,
// through svelte/motion) asks for both at import and mount.
if (!window.matchMedia) {
  window.matchMedia = (query: string) =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addEventListener() {},
      removeEventListener() {},
      addListener() {},
      removeListener() {},
      dispatchEvent: () => false,
    }) as MediaQueryList;
}
if (!('ResizeObserver' in window)) {
  (window as unknown as { ResizeObserver: unknown }).ResizeObserver = class {
    observe() {}
    unobserve() {}
    disconnect() {}
  };
}
