/// <reference types="svelte" />
/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** "1" in `vite build --mode demo`: answer from the in-browser demo backend. */
  readonly VITE_SKIFF_DEMO?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
