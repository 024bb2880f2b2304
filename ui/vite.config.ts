import { defineConfig } from 'vite';

// Preact's JSX runtime through esbuild/oxc: no framework plugin needed.
// `npm run dev` proxies /api to a running `reelmap serve` (REELMAP_API, e.g.
// http://127.0.0.1:PORT, plus REELMAP_TOKEN, since the dev page cannot get the cookie).
const api = process.env.REELMAP_API;
const token = process.env.REELMAP_TOKEN;

export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    chunkSizeWarningLimit: 200,
  },
  server: api
    ? {
        proxy: {
          '/api': {
            target: api,
            changeOrigin: true,
            headers: token ? { 'X-Reelmap-Token': token } : {},
            // The engine refuses foreign Origins (DNS-rebinding guard); the dev
            // server is a trusted local proxy, so drop the header.
            configure: (proxy) => {
              proxy.on('proxyReq', (req) => req.removeHeader('origin'));
            },
          },
        },
      }
    : undefined,
});
