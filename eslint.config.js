import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "src/generated/**", "node_modules/**", ".dedupe/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", performance: "readonly", Buffer: "readonly", AbortController: "readonly", fetch: "readonly", Request: "readonly", Response: "readonly", Headers: "readonly", TextEncoder: "readonly", TextDecoder: "readonly", setImmediate: "readonly", structuredClone: "readonly", AbortSignal: "readonly", queueMicrotask: "readonly", WebAssembly: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "warn",
    },
  },
  {
    // Layers point one way: the db layer serves core, harness and jobs, never the reverse.
    files: ["src/db/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["**/core/*", "**/harness/*", "**/providers/*", "**/cli/*"], message: "src/db must not import from src/core, src/harness, src/providers or src/cli: move the shared piece down into src/db." }] }],
    },
  },
);
