export { openDatabase, rows, appRoleFor, DEFAULT_APP_ROLE, type Database, type Db, type DatabaseKind } from './client.ts';
export { migrate, applyRowLevelSecurity, tenantTables, MIGRATIONS_DIR } from './migrate.ts';
export * from './columns.ts';
