/**
 * The provider directory and the payer itself: payer Organization (NAIC code), its two
 * networks and four plans, provider organisations (hospitals, primary-care clinics, specialty
 * groups, pharmacies, dental practices) with a Location each, clinicians with PractitionerRoles,
 * and each organisation's network participation as OrganizationAffiliation. Its size grows with
 * the membership so a large population is not served by a handful of doctors.
 */
import type { Resource } from '../fhir/validation.js';
import type { Specialty } from './conditions.js';
import { fhirAddress, familyName, givenName, phone, randomAddress, type Address, type Sex } from './demographics.js';
import { ein, npi, pad, payerSystems, type PayerSystems } from './identifiers.js';
import { NETWORKS, PLANS, insurancePlanResource, type Plan } from './plans.js';
import { Rng } from './prng.js';
import { PROFILE, SYS, concept, ref } from './vocabulary.js';

export type OrgKind = 'hospital' | 'primary' | 'specialty' | 'pharmacy' | 'dental';
export type ClinicianRole = 'primary' | 'pediatrics' | Specialty | 'hospitalist' | 'emergency' | 'dentist';

export interface ProviderOrg {
  id: string;
  name: string;
  npi: string;
  /** Federal tax id (EIN), the TIN of the organisation's contracts with the payer. */
  tin: string;
  kind: OrgKind;
  specialty?: Specialty;
  locationId: string;
  /** Indices into NETWORKS the organisation participates in. */
  networks: number[];
  clinicians: Clinician[];
}

export interface Clinician {
  id: string;
  roleId: string;
  npi: string;
  display: string;
  role: ClinicianRole;
  taxonomy: readonly [string, string];
  org: ProviderOrg;
}

export interface Directory {
  payer: { id: string; name: string; domain: string; naic: string };
  systems: PayerSystems;
  plans: readonly Plan[];
  orgs: ProviderOrg[];
  byKind: Record<OrgKind, ProviderOrg[]>;
  bySpecialty: Record<Specialty, ProviderOrg[]>;
  employers: { code: string; name: string }[];
  resources: Resource[];
}

const TAXONOMY: Record<ClinicianRole, readonly [string, string]> = {
  primary: ['207Q00000X', 'Family Medicine Physician'],
  pediatrics: ['208000000X', 'Pediatrics Physician'],
  cardiology: ['207RC0000X', 'Cardiovascular Disease Physician'],
  endocrinology: ['207RE0101X', 'Endocrinology, Diabetes & Metabolism Physician'],
  pulmonology: ['207RP1001X', 'Pulmonary Disease Physician'],
  behavioral: ['2084P0800X', 'Psychiatry Physician'],
  nephrology: ['207RN0300X', 'Nephrology Physician'],
  hospitalist: ['208M00000X', 'Hospitalist'],
  emergency: ['207P00000X', 'Emergency Medicine Physician'],
  dentist: ['1223G0001X', 'General Practice Dentist'],
};

const ORG_TAXONOMY: Record<OrgKind, readonly [string, string]> = {
  hospital: ['282N00000X', 'General Acute Care Hospital'],
  primary: ['261QP2300X', 'Primary Care Clinic/Center'],
  specialty: ['261QM1300X', 'Multi-Specialty Clinic/Center'],
  pharmacy: ['3336C0003X', 'Community/Retail Pharmacy'],
  dental: ['1223G0001X', 'General Practice Dentist'],
};

const SPECIALTIES: readonly Specialty[] = ['cardiology', 'endocrinology', 'pulmonology', 'behavioral', 'nephrology'];
const PLACE = ['Cascade', 'Willamette', 'Columbia', 'Riverbend', 'Evergreen', 'Summit', 'Mt. Hood', 'Tualatin', 'Rogue Valley', 'Coast Range', 'Juniper', 'Siskiyou', 'Clackamas', 'Deschutes', 'McKenzie', 'Umpqua', 'Santiam', 'Hawthorne', 'Pearl', 'Laurelhurst'];
const PAYERS = ['Cascade Mutual Health', 'Willamette Valley Health Plan', 'Columbia Basin Health', 'Pacific Crest Health Plan'];
const EMPLOYER_NOUNS = ['Logistics', 'Timber Co.', 'Software', 'School District', 'Foods', 'Credit Union', 'Manufacturing', 'County', 'Builders', 'Outfitters', 'Brewing', 'Medical Supply', 'Energy', 'Transit', 'University'];

const KIND_NAME: Record<OrgKind, string> = { hospital: 'Medical Center', primary: 'Family Health Clinic', specialty: 'Specialty Group', pharmacy: 'Pharmacy', dental: 'Dental Care' };
const SPECIALTY_NAME: Record<Specialty, string> = { cardiology: 'Heart & Vascular', endocrinology: 'Diabetes & Endocrine', pulmonology: 'Lung & Sleep', behavioral: 'Behavioral Health', nephrology: 'Kidney Care' };

function providerOrgResource(o: ProviderOrg, tin: string, addr: Address, tel: string): Resource {
  return {
    resourceType: 'Organization',
    id: o.id,
    meta: { profile: [...PROFILE.c4bbOrganization] },
    identifier: [
      { type: concept(SYS.v2_0203, 'NPI', 'National provider identifier'), system: SYS.npi, value: o.npi },
      { type: concept(SYS.v2_0203, 'TAX', 'Tax ID number'), system: SYS.tin, value: tin },
    ],
    active: true,
    type: [concept(SYS.orgType, 'prov', 'Healthcare Provider')],
    name: o.name,
    telecom: [{ system: 'phone', value: tel, use: 'work' }],
    address: [fhirAddress(addr, 'work')],
  };
}

function locationResource(o: ProviderOrg, addr: Address, tel: string): Resource {
  const type = o.kind === 'hospital' ? ['HOSP', 'Hospital'] : o.kind === 'pharmacy' ? ['PHARM', 'Pharmacy'] : o.kind === 'dental' ? ['DENT', 'Dental clinic'] : ['OF', 'Outpatient facility'];
  return {
    resourceType: 'Location',
    id: o.locationId,
    meta: { profile: [...PROFILE.location] },
    status: 'active',
    name: o.name,
    type: [concept(SYS.roleCode, type[0], type[1])],
    telecom: [{ system: 'phone', value: tel, use: 'work' }],
    address: fhirAddress(addr, 'work'),
    managingOrganization: ref('Organization', o.id, o.name),
  };
}

function clinicianResources(c: Clinician, rng: Rng, addr: Address, tel: string): Resource[] {
  const sex: Sex = rng.chance(0.5) ? 'female' : 'male';
  const given = givenName(rng, sex);
  const family = familyName(rng);
  const suffix = c.role === 'dentist' ? 'DDS' : rng.chance(0.15) ? 'DO' : 'MD';
  c.display = `${given} ${family}, ${suffix}`;
  const practitioner: Resource = {
    resourceType: 'Practitioner',
    id: c.id,
    meta: { profile: [...PROFILE.practitioner] },
    identifier: [{ type: concept(SYS.v2_0203, 'NPI', 'National provider identifier'), system: SYS.npi, value: c.npi }],
    active: true,
    name: [{ use: 'official', family, given: [given], suffix: [suffix] }],
    telecom: [{ system: 'phone', value: tel, use: 'work' }],
    address: [fhirAddress(addr, 'work')],
    gender: sex,
  };
  const role: Resource = {
    resourceType: 'PractitionerRole',
    id: c.roleId,
    meta: { profile: [...PROFILE.practitionerRole] },
    active: true,
    practitioner: ref('Practitioner', c.id, c.display),
    organization: ref('Organization', c.org.id, c.org.name),
    code: [concept('http://terminology.hl7.org/CodeSystem/practitioner-role', 'doctor', 'Doctor')],
    specialty: [concept(SYS.nucc, c.taxonomy[0], c.taxonomy[1])],
    location: [ref('Location', c.org.locationId, c.org.name)],
    telecom: [{ system: 'phone', value: tel, use: 'work' }],
  };
  return [practitioner, role];
}

/** Organisation counts for a membership size (at least one of each kind; more as it grows). */
export function directorySize(members: number): Record<OrgKind, number> {
  return {
    hospital: Math.max(1, Math.round(members / 5000)),
    primary: Math.max(2, Math.round(members / 700)),
    specialty: SPECIALTIES.length * Math.max(1, Math.round(members / 10000)),
    pharmacy: Math.max(2, Math.round(members / 3000)),
    dental: Math.max(1, Math.round(members / 2500)),
  };
}

export function buildDirectory(seed: string, members: number): Directory {
  const rng = new Rng(seed, 'directory');
  const payerName = rng.pick(PAYERS);
  const domain = `${payerName.toLowerCase().replace(/[^a-z]+/g, '')}.example`;
  const naic = String(rng.int(10000, 99999));
  const payer = { id: 'payer', name: payerName, domain, naic };
  const systems = payerSystems(domain);
  const npiOffset = rng.int(0, 99_999_999);
  const resources: Resource[] = [];
  const payerAddr = randomAddress(rng);
  resources.push({
    resourceType: 'Organization',
    id: payer.id,
    meta: { profile: [...PROFILE.c4bbOrganization] },
    identifier: [
      { type: concept(SYS.c4bbIdentifierType, 'naiccode', 'NAIC Code'), system: SYS.naic, value: naic },
      { type: concept(SYS.c4bbIdentifierType, 'payerid', 'Payer ID'), system: systems.plan, value: `P${naic}` },
    ],
    active: true,
    type: [concept(SYS.orgType, 'pay', 'Payer')],
    name: payerName,
    telecom: [{ system: 'phone', value: phone(rng, payerAddr.area), use: 'work' }, { system: 'url', value: `https://www.${domain}` }],
    address: [fhirAddress(payerAddr, 'work')],
  });
  for (const n of NETWORKS) {
    resources.push({
      resourceType: 'Organization',
      id: n.id,
      meta: { profile: [...PROFILE.organization] },
      active: true,
      type: [concept('http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/OrgTypeCS', 'ntwk', 'Network')],
      name: `${payerName} ${n.name}`,
      partOf: ref('Organization', payer.id, payerName),
    });
  }
  for (const plan of PLANS) resources.push(insurancePlanResource(plan, payer.id, payerName, systems));

  const size = directorySize(members);
  const orgs: ProviderOrg[] = [];
  const byKind: Record<OrgKind, ProviderOrg[]> = { hospital: [], primary: [], specialty: [], pharmacy: [], dental: [] };
  const bySpecialty = Object.fromEntries(SPECIALTIES.map((s) => [s, []])) as unknown as Record<Specialty, ProviderOrg[]>;
  let clinicianCount = 0;
  for (const kind of ['hospital', 'primary', 'specialty', 'pharmacy', 'dental'] as const) {
    for (let k = 0; k < size[kind]; k++) {
      const i = orgs.length;
      const specialty = kind === 'specialty' ? SPECIALTIES[k % SPECIALTIES.length] : undefined;
      const place = PLACE[(i * 7 + k) % PLACE.length];
      const name = specialty ? `${place} ${SPECIALTY_NAME[specialty]}` : `${place} ${KIND_NAME[kind]}${k >= PLACE.length ? ` ${Math.floor(k / PLACE.length) + 1}` : ''}`;
      // Almost everyone is in the broad network; the select network leaves out about a quarter.
      const networks = kind === 'pharmacy' ? [0, 1] : rng.chance(0.75) ? [0, 1] : rng.chance(0.8) ? [1] : [];
      const o: ProviderOrg = { id: `org-${pad(i + 1, 4)}`, name, npi: npi(2, npiOffset, i), tin: ein(npiOffset, i), kind, specialty, locationId: `loc-${pad(i + 1, 4)}`, networks, clinicians: [] };
      const addr = randomAddress(rng);
      const tel = phone(rng, addr.area);
      resources.push(providerOrgResource(o, o.tin, addr, tel), locationResource(o, addr, tel));
      const roles: ClinicianRole[] =
        kind === 'hospital' ? ['hospitalist', 'hospitalist', 'emergency', 'emergency'] : kind === 'primary' ? ['pediatrics', ...Array<ClinicianRole>(rng.int(2, 4)).fill('primary')] : kind === 'specialty' ? [specialty!, specialty!] : kind === 'dental' ? ['dentist', 'dentist'] : [];
      for (const role of roles) {
        clinicianCount++;
        const c: Clinician = { id: `pract-${pad(clinicianCount, 5)}`, roleId: `role-${pad(clinicianCount, 5)}`, npi: npi(1, npiOffset, clinicianCount), display: '', role, taxonomy: TAXONOMY[role], org: o };
        o.clinicians.push(c);
        resources.push(...clinicianResources(c, rng, addr, tel));
      }
      for (const n of networks) {
        resources.push({
          resourceType: 'OrganizationAffiliation',
          id: `affil-${pad(i + 1, 4)}-${n + 1}`,
          active: true,
          period: { start: '2016-01-01' },
          organization: ref('Organization', NETWORKS[n].id, `${payerName} ${NETWORKS[n].name}`),
          participatingOrganization: ref('Organization', o.id, o.name),
          network: [ref('Organization', NETWORKS[n].id)],
          code: [concept(SYS.orgRole, 'member', 'Member')],
          specialty: [concept(SYS.nucc, ORG_TAXONOMY[kind][0], ORG_TAXONOMY[kind][1])],
          location: [ref('Location', o.locationId)],
        });
      }
      orgs.push(o);
      byKind[kind].push(o);
      if (specialty) bySpecialty[specialty].push(o);
    }
  }
  const employers = Array.from({ length: Math.max(3, Math.round(members / 250)) }, (_, i) => ({
    code: `G${pad(rng.int(10000, 99999), 5)}${pad(i, 3)}`,
    name: `${PLACE[(i * 3) % PLACE.length]} ${EMPLOYER_NOUNS[i % EMPLOYER_NOUNS.length]}`,
  }));
  return { payer, systems, plans: PLANS, orgs, byKind, bySpecialty, employers, resources };
}

export function inNetwork(org: ProviderOrg, plan: Plan): boolean {
  return org.networks.includes(plan.network);
}
