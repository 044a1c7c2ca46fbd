/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The gateway serves the built page from the same origin as the API. For
// development, `npm run dev` proxies /v1 to a running gateway
// (PHANTOM_URL, default http://127.0.0.1:7400) and adds its bearer token
// (PHANTOM_TOKEN) on the proxy's side: the page itself never holds it.
const gateway = process.env.PHANTOM_URL ?? "http://127.0.0.1:7400";
const token = process.env.PHANTOM_TOKEN;

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: {
      "/v1": {
        target: gateway,
        changeOrigin: true,
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      },
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    testTimeout: 20000,
  },
});
