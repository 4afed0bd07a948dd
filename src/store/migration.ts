/** One versioned schema change (src/store/migrations.ts lists them in order). */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}
