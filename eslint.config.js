import importPlugin from "eslint-plugin-import";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: [".cache/**", "build/**", "public/build/**", "dist/**", "node_modules/**", "data/**", "test-results/**", "playwright-report/**", "bench/.tmp/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
    },
  },
  // The layering, held by the linter: no import cycles in the app (the CLI included).
  {
    files: ["app/**/*.ts", "app/**/*.tsx"],
    plugins: { import: importPlugin },
    settings: {
      "import/resolver": { typescript: { project: "./tsconfig.json" } },
      "import/parsers": { "@typescript-eslint/parser": [".ts", ".tsx"] },
    },
    rules: { "import/no-cycle": ["error", { ignoreExternal: true }] },
  },
  // Routes (pages) never talk to the store: no schema, client or statements, only domain modules.
  {
    files: ["app/routes/**/*.ts", "app/routes/**/*.tsx"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["~/db/*", "**/db/*", "drizzle-orm", "drizzle-orm/*", "better-sqlite3"], message: "Routes call domain modules; only app/db and the domain modules touch the store." },
          ],
        },
      ],
    },
  },
);
