/// <reference types="vitest/config" />
import { fileURLToPath, URL } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The generated TypeScript SDK lives in gen/ts/src and is compiled into the app (no separate
// build step). One copy of the protobuf runtime: generated code and Connect must share it.
const sdk = fileURLToPath(new URL("../gen/ts/src", import.meta.url));
// `npm run dev` talks to a running stack's Envoy (default port from .env).
const edge = process.env.AE_EDGE_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: { "@sdk": sdk },
    dedupe: ["@bufbuild/protobuf"],
  },
  server: {
    fs: { allow: [".", sdk] },
    proxy: {
      "^/(analytics|grpc)\\.": { target: edge, changeOrigin: true },
      "/ui/": { target: edge, changeOrigin: true },
    },
  },
  // Unit tests of the pure logic (no browser): `npm test`.
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
    // Pure functions without globals to leak: one worker for all files starts faster.
    isolate: false,
  },
  build: {
    outDir: "dist",
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
});
