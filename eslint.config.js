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
);
