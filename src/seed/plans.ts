/**
 * The payer's products: benefit designs that drive the claims' cost-sharing, and the
 * InsurancePlan resources that publish them. HMO members who go out of network outside an
 * emergency are denied; PPO and high-deductible members pay more out of network.
 */
import type { Resource } from '../fhir/validation.js';
import type { PayerSystems } from './identifiers.js';
import { SYS, concept, money, ref, type Json } from './vocabulary.js';

export type PlanKind = 'hmo' | 'ppo' | 'hdhp' | 'medicare';

export interface Plan {
  index: number;
  id: string;
  code: string;
  name: string;
  kind: PlanKind;
  /** 0: the narrow network, 1: the broad one. */
  network: 0 | 1;
  /** Member-number prefix printed on the card. */
  prefix: string;
  deductible: number;
  oopMax: number;
  coinsurance: number;
  oonCoinsurance: number;
  copay: { pcp: number; specialist: number; er: number; inpatient: number };
  rx: { generic: number; brand: number };
  /** Copays apply before the deductible is met (HDHPs have none). */
  copaysBypassDeductible: boolean;
  sopt: readonly [string, string];
  actCode: readonly [string, string];
}

export const PLANS: readonly Plan[] = [
  {
    index: 0, id: 'plan-hmo', code: 'HMO-GOLD', name: 'Gold HMO', kind: 'hmo', network: 0, prefix: 'HMG',
    deductible: 500, oopMax: 4000, coinsurance: 0.2, oonCoinsurance: 1, copay: { pcp: 20, specialist: 40, er: 250, inpatient: 500 }, rx: { generic: 10, brand: 45 },
    copaysBypassDeductible: true, sopt: ['511', 'Commercial Managed Care - HMO'], actCode: ['HMO', 'health maintenance organization policy'],
  },
  {
    index: 1, id: 'plan-ppo', code: 'PPO-SILVER', name: 'Silver PPO', kind: 'ppo', network: 1, prefix: 'PPS',
    deductible: 1000, oopMax: 6000, coinsurance: 0.2, oonCoinsurance: 0.4, copay: { pcp: 30, specialist: 55, er: 300, inpatient: 0 }, rx: { generic: 15, brand: 60 },
    copaysBypassDeductible: true, sopt: ['512', 'Commercial Managed Care - PPO'], actCode: ['PPO', 'preferred provider organization policy'],
  },
  {
    index: 2, id: 'plan-hdhp', code: 'HDHP-BRONZE', name: 'Bronze HSA-eligible PPO', kind: 'hdhp', network: 1, prefix: 'HSB',
    deductible: 3200, oopMax: 7000, coinsurance: 0.1, oonCoinsurance: 0.4, copay: { pcp: 0, specialist: 0, er: 0, inpatient: 0 }, rx: { generic: 0, brand: 0 },
    copaysBypassDeductible: false, sopt: ['512', 'Commercial Managed Care - PPO'], actCode: ['PPO', 'preferred provider organization policy'],
  },
  {
    index: 3, id: 'plan-ma', code: 'MA-HMO', name: 'Medicare Advantage HMO', kind: 'medicare', network: 1, prefix: 'MAH',
    deductible: 0, oopMax: 5900, coinsurance: 0.2, oonCoinsurance: 1, copay: { pcp: 0, specialist: 35, er: 95, inpatient: 1200 }, rx: { generic: 5, brand: 47 },
    copaysBypassDeductible: true, sopt: ['111', 'Medicare HMO'], actCode: ['HMO', 'health maintenance organization policy'],
  },
];

export const NETWORKS = [
  { id: 'network-select', name: 'Select Network' },
  { id: 'network-broad', name: 'Broad Network' },
] as const;

function usd(value: number): Json {
  return { value, unit: 'USD', system: 'urn:iso:std:iso:4217', code: 'USD' };
}

function benefit(category: string, type: 'copay' | 'coinsurance', value: number): Json {
  const cost = type === 'copay' ? usd(value) : { value: value * 100, unit: '%', system: SYS.ucum, code: '%' };
  return { category: { text: category }, benefit: [{ type: { text: type }, cost: [{ type: { text: type }, value: cost }] }] };
}

export function insurancePlanResource(plan: Plan, payerId: string, payerName: string, systems: PayerSystems): Resource {
  return {
    resourceType: 'InsurancePlan',
    id: plan.id,
    identifier: [{ system: systems.plan, value: plan.code }],
    status: 'active',
    type: [concept(SYS.insurancePlanType, 'medical', 'Medical')],
    name: `${payerName} ${plan.name}`,
    period: { start: '2016-01-01' },
    ownedBy: ref('Organization', payerId, payerName),
    administeredBy: ref('Organization', payerId, payerName),
    network: [ref('Organization', NETWORKS[plan.network].id, NETWORKS[plan.network].name)],
    plan: [
      {
        identifier: [{ system: systems.plan, value: `${plan.code}-${plan.kind.toUpperCase()}` }],
        type: { text: plan.kind === 'medicare' ? 'Medicare Advantage' : plan.kind.toUpperCase() },
        generalCost: [
          { type: { text: 'Individual deductible' }, cost: money(plan.deductible) },
          { type: { text: 'Individual out-of-pocket maximum' }, cost: money(plan.oopMax) },
        ],
        specificCost: [
          benefit('Primary care visit', 'copay', plan.copay.pcp),
          benefit('Specialist visit', 'copay', plan.copay.specialist),
          benefit('Emergency room', 'copay', plan.copay.er),
          benefit('Inpatient stay', 'copay', plan.copay.inpatient),
          benefit('Generic drugs', 'copay', plan.rx.generic),
          benefit('Brand drugs', 'copay', plan.rx.brand),
          benefit('In-network services after deductible', 'coinsurance', plan.coinsurance),
        ],
      },
    ],
  };
}
