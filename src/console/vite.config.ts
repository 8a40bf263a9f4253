// The admin console: a react-admin app built into dist/console and served by the server at /console.
// Run by `npm run build` (so `npm install` builds it); needs no network.
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

const MUI = /node_modules[\\/](@mui[\\/](?!icons-material)[^\\/]+|@emotion|@popperjs|react-transition-group|stylis|@babel[\\/]runtime|clsx|prop-types|react-is|hoist-non-react-statics)[\\/]/;

/**
 * Vendor libraries in chunks of their own (cached across builds of the screens), split so that the
 * first paint (the shell and the sign-in page) loads React, the part of MUI the sign-in page uses and
 * the SDK only; react-admin, the rest of MUI and the icons come after sign-in, with the screens.
 * Rolldown's chunk groups: a module goes to the group of the highest priority whose test (and tags:
 * `$initial` = reached by static imports from the entry) it passes; a group also takes the
 * dependencies no higher group took, so the groups the sign-in page needs rank highest.
 */
const vendorChunks = {
  groups: [
    { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/, priority: 50 },
    { name: 'mui', test: MUI, tags: ['$initial' as const], priority: 40 },
    { name: 'sdk', test: /[\\/]sdk[\\/]platform[\\/]/, priority: 40 },
    { name: 'mui-admin', test: MUI, priority: 30 },
    { name: 'icons', test: /node_modules[\\/]@mui[\\/]icons-material[\\/]/, priority: 20 },
    { name: 'react-admin', test: /node_modules[\\/]/, priority: 10 },
  ],
};

export default defineConfig({
  root: here,
  // Every URL in index.html and the bundles is relative to /console/.
  base: '/console/',
  plugins: [react()],
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../../dist/console', import.meta.url)),
    emptyOutDir: true,
    // Flat output (/console/<file>): the server serves one path segment below /console.
    assetsDir: '',
    chunkSizeWarningLimit: 4096,
    reportCompressedSize: false,
    rolldownOptions: {
      output: { codeSplitting: vendorChunks },
    },
  },
});
