// The admin console: a react-admin app built into dist/console and served by the server at /console.
// Run by `npm run build` (so `npm install` builds it); needs no network.
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

const MUI = /node_modules[\\/](@mui[\\/](?!icons-material)[^\\/]+|@emotion|@popperjs|react-transition-group|stylis|@babel[\\/]runtime|clsx|prop-types|react-is|hoist-non-react-statics)[\\/]/;

/**
 * Vendor libraries in chunks of their own (cached across builds of the screens). The first paint (the
 * shell and the sign-in page, which uses no UI library) loads React and the SDK only; MUI, react-admin
 * and the icons come after sign-in, with the screens, each screen group in a chunk of its own.
 * Rolldown's chunk groups: a module goes to the group of the highest priority whose test it passes,
 * and a group also takes the dependencies no higher group took, so MUI's core ranks above the icons
 * and react-admin that use it.
 */
const vendorChunks = {
  groups: [
    { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/, priority: 50 },
    { name: 'sdk', test: /[\\/]sdk[\\/]platform[\\/]/, priority: 40 },
    { name: 'mui', test: MUI, priority: 30 },
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
