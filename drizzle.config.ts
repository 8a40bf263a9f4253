import { defineConfig } from 'drizzle-kit';

// Every module's tables.ts (and the kernel's) make up one schema; `npm run db:generate` writes its migrations.
export default defineConfig({
  dialect: 'postgresql',
  schema: ['./src/core/**/tables.ts', './src/modules/**/tables.ts'],
  out: './drizzle',
});
