// Lint: the recommended JavaScript and TypeScript rules, without type-aware rules (tsc --noEmit
// already type-checks), over the action, its tests, benches and scripts.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // a `let` assigned once but read by a closure declared before the assignment
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }]
    }
  },
  {
    // Status of every kind is read as unstructured JSON here (rules check each field before use),
    // as are kubectl's answers in tests and benches.
    files: ['src/kube/status/rules.ts', 'src/kube/status/observe.ts', 'src/kube/diagnose.ts', 'src/kube/fastfail.ts', '__tests__/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' }
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' }
  }
)
