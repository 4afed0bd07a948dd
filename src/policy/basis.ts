/**
 * Money out of what partners receive. Provider Access and Payer-to-Payer exclude provider
 * remittances and enrollee cost-sharing (42 CFR 422.121), so ExplanationOfBenefits are sent
 * as their CARIN Blue Button *Basis* profiles: every amount-bearing adjudication, every total,
 * the payment, benefit balances and line prices removed, and `meta.profile` pointing at the
 * Basis profile of the same kind. Claims lose the same elements and Coverages their
 * cost-to-beneficiary. Status adjudications (network status, denial reasons) stay.
 */
const C4BB = 'http://hl7.org/fhir/us/carin-bb/StructureDefinition/';
const C4BB_EOB = `${C4BB}C4BB-ExplanationOfBenefit`;

/** Types whose JSON this module rewrites. */
export const FINANCIAL_TYPES: ReadonlySet<string> = new Set(['ExplanationOfBenefit', 'Claim', 'ClaimResponse', 'Coverage']);

type Json = Record<string, any>;

/** Drops `node.adjudication` entries that carry an amount (the element goes when none is left). */
function dropAmountAdjudications(node: Json): void {
  if (!Array.isArray(node.adjudication)) return;
  const kept = (node.adjudication as Json[]).filter((a) => !a || typeof a !== 'object' || a.amount === undefined);
  if (kept.length) node.adjudication = kept;
  else delete node.adjudication;
}

function stripLine(line: Json): void {
  delete line.unitPrice;
  delete line.net;
  dropAmountAdjudications(line);
  for (const key of ['detail', 'subDetail']) {
    if (Array.isArray(line[key])) for (const d of line[key] as Json[]) stripLine(d);
  }
}

/** Removes Money-valued extensions anywhere in `node`. */
function stripMoneyExtensions(node: unknown): void {
  if (Array.isArray(node)) {
    for (const n of node) stripMoneyExtensions(n);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const o = node as Json;
  for (const key of ['extension', 'modifierExtension']) {
    if (Array.isArray(o[key])) {
      o[key] = (o[key] as Json[]).filter((e) => e?.valueMoney === undefined);
      if (!(o[key] as Json[]).length) delete o[key];
    }
  }
  for (const v of Object.values(o)) if (v && typeof v === 'object') stripMoneyExtensions(v);
}

/** `…C4BB-ExplanationOfBenefit-Pharmacy|2.1.0` → `…C4BB-ExplanationOfBenefit-Pharmacy-Basis|2.1.0`. */
export function basisProfile(profile: string): string {
  const [url, version] = profile.split('|');
  if (!url.startsWith(C4BB_EOB) || url.endsWith('-Basis') || url === C4BB_EOB) return profile;
  return version ? `${url}-Basis|${version}` : `${url}-Basis`;
}

/** The resource as a partner may receive it (mutated in place and returned). */
export function withoutFinancials(r: Json): Json {
  if (r.resourceType === 'Coverage') {
    delete r.costToBeneficiary;
    return r;
  }
  delete r.total;
  delete r.payment;
  delete r.benefitBalance;
  dropAmountAdjudications(r);
  for (const key of ['item', 'addItem']) {
    if (Array.isArray(r[key])) for (const line of r[key] as Json[]) stripLine(line);
  }
  stripMoneyExtensions(r);
  if (r.resourceType === 'ExplanationOfBenefit' && Array.isArray(r.meta?.profile)) {
    r.meta.profile = [...new Set((r.meta.profile as string[]).map(basisProfile))];
  }
  return r;
}

/** The JSON text as a partner may receive it: unchanged unless its type carries money. */
export function withoutFinancialsJson(type: string, json: string): string {
  if (!FINANCIAL_TYPES.has(type)) return json;
  return JSON.stringify(withoutFinancials(JSON.parse(json) as Json));
}

/**
 * Marks JSON that still needs rendering (a financial row written before Basis renditions
 * were stored, src/store/migration-basis.ts). A control character never occurs in stored
 * JSON text, and export's COPY format passes it through unquoted.
 */
const UNRENDERED = '\x03';

/**
 * SQL: the JSON a partner receives of `alias`'s row (`alias.content`, `alias.basis`) — its
 * stored Basis rendition, or its JSON marked as not yet rendered, which `partnerJson` renders.
 * `financial`: the row's type is one of FINANCIAL_TYPES (otherwise the JSON as stored).
 */
export function partnerContentSql(alias: string, financial: boolean): string {
  return financial ? `coalesce(${alias}.basis, '${UNRENDERED}' || ${alias}.content)` : `${alias}.content`;
}

/** Whether any line in `text` (JSON per line, from `partnerContentSql`) still needs rendering. */
export function hasUnrendered(text: Buffer | string): boolean {
  return text.includes(UNRENDERED);
}

/** The JSON a partner receives, from the text `partnerContentSql` selected. */
export function partnerJson(type: string, text: string): string {
  return text.startsWith(UNRENDERED) ? withoutFinancialsJson(type, text.slice(1)) : text;
}

/** `partnerContentSql` over rows of any of `types` (SQL `alias.type` tells each row's). */
export function partnerContentSqlForTypes(alias: string, types: readonly string[]): string {
  const financial = types.filter((t) => FINANCIAL_TYPES.has(t));
  if (!financial.length) return `${alias}.content`;
  if (financial.length === types.length) return partnerContentSql(alias, true);
  return `CASE WHEN ${alias}.type IN (${financial.map((t) => `'${t}'`).join(', ')}) THEN ${partnerContentSql(alias, true)} ELSE ${alias}.content END`;
}
