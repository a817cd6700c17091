/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';

// `npm run build` writes the production bundle to dist/ (Tauri's frontendDist
// is ../ui/dist). `npm run build:demo` (mode "demo", see .env.demo) writes a
// bundle that answers from the in-browser demo backend to dist-demo/; the
// production bundle never contains the demo backend.
export default defineConfig(({ mode }) => ({
  plugins: [svelte(), svelteTesting()],
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  envPrefix: ['VITE_', 'TAURI_ENV_'],
  build: {
    outDir: mode === 'demo' ? 'dist-demo' : 'dist',
    // WebView2 (Chromium ≥ 105) on Windows, WebKit (Safari ≥ 16 level) on macOS and Linux.
    target: ['es2022', 'chrome105', 'safari16'],
    sourcemap: false,
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts'],
    setupFiles: ['src/test/setup.ts'],
    testTimeout: 20_000,
  },
}));
