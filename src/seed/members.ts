/**
 * Households: a subscriber, often a spouse, and children up to age 25 (the ACA dependant
 * limit), sharing an address, a phone, an employer and their enrolment. Each person becomes a
 * US Core / C4BB Patient (race, ethnicity and birth-sex extensions, member identifiers), and
 * each dependant gets a RelatedPerson for the subscriber who holds the policy.
 */
import type { Resource } from '../fhir/validation.js';
import { SENSITIVE_CHRONIC, drawChronic, type ChronicCase } from './conditions.js';
import { AS_OF, HISTORY_START, ageOn, isoDate, isoDateTime } from './dates.js';
import {
  drawLanguage, drawRaceEthnicity, ethnicityExtension, familyName, fhirAddress, givenName, middleInitial, phone, randomAddress, raceExtension,
  type Address, type Sex,
} from './demographics.js';
import type { Directory } from './directory.js';
import { memberNumber, pad } from './identifiers.js';
import type { Rng } from './prng.js';
import { PROFILE, SYS, US_CORE_EXT, concept, ref, type Json } from './vocabulary.js';

export type Relationship = 'self' | 'spouse' | 'child';
export type Smoking = 'current' | 'former' | 'never';

export interface Person {
  /** Position in the whole population (0-based, -1 until assigned); ids derive from it. */
  index: number;
  id: string;
  /** 0 for the subscriber, then dependants in order. */
  position: number;
  relationship: Relationship;
  sex: Sex;
  given: string;
  middle: string;
  family: string;
  birth: number;
  death?: number;
  smoking: Smoking;
  chronic: ChronicCase[];
  language: { code: string; display: string };
  rng: Rng;
}

export interface Household {
  index: number;
  address: Address;
  previousAddress?: { address: Address; moved: number };
  phone: string;
  races: ReturnType<typeof drawRaceEthnicity>['races'];
  hispanic: boolean | undefined;
  employer: { code: string; name: string };
  persons: Person[];
  dental: boolean;
  rng: Rng;
}

/** Subscriber age on the as-of day: working-age adults and retirees who kept the plan. */
const SUBSCRIBER_AGES: readonly (readonly [readonly [number, number], number])[] = [
  [[19, 25], 5], [[26, 34], 15], [[35, 44], 20], [[45, 54], 20], [[55, 64], 18], [[65, 74], 14], [[75, 92], 8],
];
const CHILDREN: readonly (readonly [number, number])[] = [[0, 45], [1, 22], [2, 22], [3, 8], [4, 3]];

function birthFor(rng: Rng, age: number): number {
  return AS_OF - Math.floor(age * 365.25) - rng.int(0, 364);
}

function drawSmoking(rng: Rng, age: number): Smoking {
  if (age < 15) return 'never';
  const r = rng.next();
  if (r < 0.12) return 'current';
  if (age >= 25 && r < 0.33) return 'former';
  return 'never';
}

/** Deaths over the ten years, mostly among the oldest members. */
function drawDeath(rng: Rng, birth: number): number | undefined {
  const age = ageOn(birth, AS_OF);
  const p = age >= 80 ? 0.12 : age >= 65 ? 0.035 : age >= 40 ? 0.005 : 0;
  if (!rng.chance(p)) return undefined;
  const day = rng.int(HISTORY_START + 365, AS_OF - 1);
  return day > birth ? day : undefined;
}

function makePerson(hh: Household, position: number, relationship: Relationship, sex: Sex, age: number, family: string): Person {
  const rng = hh.rng.fork('person', position);
  const birth = birthFor(rng, age);
  const death = drawDeath(rng, birth);
  const smoking = drawSmoking(rng, age);
  const refDay = death ?? AS_OF;
  const ageThen = ageOn(birth, refDay);
  const chronic = drawChronic(rng, ageThen, birth, refDay, smoking !== 'never');
  // A stream of their own: adding these conditions changed no other draw of the person.
  chronic.push(...drawChronic(rng.fork('sensitive'), ageThen, birth, refDay, smoking !== 'never', SENSITIVE_CHRONIC));
  return {
    index: -1, id: '', position, relationship, sex, birth, death, smoking, chronic,
    given: givenName(rng, sex), middle: middleInitial(rng), family,
    language: drawLanguage(rng, hh.hispanic, hh.races), rng,
  };
}

/**
 * The household at `index`. Persons get their population index and id later (assignIndex),
 * once it is known which of them were ever covered.
 */
export function buildHousehold(dir: Directory, root: Rng, index: number): Household {
  const rng = root.fork('household', index);
  const { races, hispanic } = drawRaceEthnicity(rng);
  const address = randomAddress(rng);
  const hh: Household = {
    index, address, phone: phone(rng, address.area), races, hispanic, employer: rng.pick(dir.employers), persons: [], dental: rng.chance(0.55), rng,
  };
  if (rng.chance(0.12)) hh.previousAddress = { address: randomAddress(rng), moved: rng.int(HISTORY_START, AS_OF - 30) };
  const family = familyName(rng);
  const [lo, hi] = rng.weighted(SUBSCRIBER_AGES);
  const age = rng.int(lo, hi);
  const sex: Sex = rng.chance(0.5) ? 'female' : 'male';
  hh.persons.push(makePerson(hh, 0, 'self', sex, age, family));
  if (age >= 24 && age <= 80 && rng.chance(0.5)) {
    const spouseAge = Math.max(19, Math.min(95, age + rng.int(-6, 6)));
    hh.persons.push(makePerson(hh, 1, 'spouse', sex === 'female' ? 'male' : 'female', spouseAge, rng.chance(0.8) ? family : familyName(rng)));
  }
  if (age >= 21 && age <= 62) {
    const kids = rng.weighted(CHILDREN);
    const oldest = Math.min(25, age - 19);
    for (let k = 0; k < kids; k++) {
      hh.persons.push(makePerson(hh, hh.persons.length, 'child', rng.chance(0.49) ? 'female' : 'male', rng.int(0, oldest), family));
    }
  }
  return hh;
}

export function assignIndex(p: Person, index: number): void {
  p.index = index;
  p.id = `pt-${pad(index + 1)}`;
}

export function patientResource(dir: Directory, hh: Household, p: Person, planPrefix: string): Resource {
  const telecom: Json[] = [{ system: 'phone', value: hh.phone, use: 'home' }];
  if (ageOn(p.birth, AS_OF) >= 18) telecom.push({ system: 'email', value: `${p.given}.${p.family}.${p.index + 1}@example.com`.toLowerCase() });
  const addresses: Json[] = [];
  if (hh.previousAddress) {
    addresses.push(fhirAddress(hh.previousAddress.address, 'home', { end: isoDate(hh.previousAddress.moved) }));
    addresses[0].use = 'old';
    addresses.push(fhirAddress(hh.address, 'home', { start: isoDate(hh.previousAddress.moved) }));
  } else {
    addresses.push(fhirAddress(hh.address));
  }
  const patient: Resource = {
    resourceType: 'Patient',
    id: p.id,
    meta: { profile: [...PROFILE.patient] },
    extension: [raceExtension(hh.races), ethnicityExtension(hh.hispanic), { url: US_CORE_EXT.birthSex, valueCode: p.sex === 'female' ? 'F' : 'M' }],
    identifier: [
      { type: concept(SYS.v2_0203, 'MB', 'Member Number'), system: dir.systems.member, value: memberNumber(planPrefix, hh.index, p.position) },
      { type: concept(SYS.c4bbIdentifierType, 'um', 'Unique Member ID'), system: dir.systems.uniqueMember, value: `U${pad(p.index + 1, 9)}` },
    ],
    active: p.death === undefined,
    name: [{ use: 'official', family: p.family, given: [p.given, p.middle] }],
    telecom,
    gender: p.sex,
    birthDate: isoDate(p.birth),
    address: addresses,
    communication: [{ language: concept('urn:ietf:bcp:47', p.language.code, p.language.display), preferred: true }],
  };
  if (p.death !== undefined) patient.deceasedDateTime = isoDateTime(p.death, 300 + p.rng.int(0, 900));
  return patient;
}

/** The subscriber as seen from a dependant: the policy holder, parent or spouse. */
export function relatedPersonResource(hh: Household, dependant: Person): Resource {
  const s = hh.persons[0];
  const rel =
    dependant.relationship === 'spouse' ? ['SPS', 'spouse'] : s.sex === 'female' ? ['MTH', 'mother'] : ['FTH', 'father'];
  return {
    resourceType: 'RelatedPerson',
    id: `rp-${pad(dependant.index + 1)}`,
    meta: { profile: [...PROFILE.relatedPerson] },
    active: true,
    patient: ref('Patient', dependant.id),
    relationship: [concept(SYS.roleCode, rel[0], rel[1]), concept('http://terminology.hl7.org/CodeSystem/v2-0131', 'N', 'Next-of-Kin')],
    name: [{ use: 'official', family: s.family, given: [s.given] }],
    telecom: [{ system: 'phone', value: hh.phone, use: 'home' }],
    gender: s.sex,
    birthDate: isoDate(s.birth),
    address: [fhirAddress(hh.address)],
  };
}
