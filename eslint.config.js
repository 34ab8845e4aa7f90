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
  // The data layer's portable subset (docs/decisions/051-async-store.md): queries are awaited (no
  // better-sqlite3 style .get()/.all()/.run()), transactions are the store's, tables come from
  // ctx.store.tables, and hand-written SQL stays in app/db.
  {
    files: ["app/**/*.ts", "app/**/*.tsx"],
    // Routes have their own, stricter rule above (no store at all).
    ignores: ["app/db/**", "app/routes/**"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[arguments.length=0] > MemberExpression.callee[property.name=/^(get|all|run)$/]",
          message: "Await the query instead (an array; `(await q.limit(1))[0]` for one row); use .returning() to learn what changed.",
        },
        {
          selector: "CallExpression > MemberExpression.callee[property.name='transaction'][object.property.name='db']",
          message: "Use ctx.store.transaction(async (tx) => ...): Drizzle's own transactions are not guarded against interleaving.",
        },
      ],
      "no-restricted-imports": [
        "error",
        {
          paths: [
            { name: "~/db/schema", allowTypeImports: true, message: "Take the tables from ctx.store.tables (types may be imported)." },
            { name: "~/db/statements.server", message: "Hand-written SQL lives in app/db (ctx.store.hot)." },
          ],
        },
      ],
    },
  },
  // Every store call is awaited (or handed on): an un-awaited one could run after its transaction.
  {
    files: ["app/**/*.ts", "app/**/*.tsx", "tests/**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      // A promise where a value is tested (`if (find())`) is always truthy.
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
    },
  },
);
