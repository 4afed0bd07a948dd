/** Bind parameters of one statement being built; `$1` is always the tenant. */
export class Binds {
  readonly values: unknown[];
  private alias = 0;
  constructor(tenant: string) {
    this.values = [tenant];
  }
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return `$${this.values.length}${cast ? `::${cast}` : ''}`;
  }
  nextAlias(prefix: string): string {
    return `${prefix}${++this.alias}`;
  }
}
