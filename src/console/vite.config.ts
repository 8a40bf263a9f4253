// The admin console: a react-admin app built into dist/console and served by the server at /console.
// Run by `npm run build` (so `npm install` builds it); needs no network.
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

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
  },
});
