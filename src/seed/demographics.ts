/**
 * Who the members are: names, addresses in the plan's service area (Oregon), race and
 * ethnicity in roughly the area's census proportions, preferred language. Phone numbers use
 * the 555-01xx block reserved for fiction, e-mail the example.com domain.
 */
import type { Rng } from './prng.js';
import { SYS, US_CORE_EXT, type Json } from './vocabulary.js';

const FEMALE = ['Olivia', 'Emma', 'Ava', 'Sophia', 'Isabella', 'Mia', 'Amelia', 'Harper', 'Evelyn', 'Abigail', 'Emily', 'Elizabeth', 'Sofia', 'Avery', 'Ella', 'Scarlett', 'Grace', 'Chloe', 'Victoria', 'Riley', 'Aria', 'Lily', 'Zoey', 'Nora', 'Camila', 'Hannah', 'Layla', 'Maria', 'Ana', 'Linh', 'Mei', 'Aisha', 'Keisha', 'Patricia', 'Linda', 'Barbara', 'Susan', 'Margaret', 'Dorothy', 'Carmen'];
const MALE = ['Liam', 'Noah', 'Oliver', 'Elijah', 'James', 'William', 'Benjamin', 'Lucas', 'Henry', 'Theodore', 'Jack', 'Levi', 'Alexander', 'Jackson', 'Mateo', 'Daniel', 'Michael', 'Mason', 'Sebastian', 'Ethan', 'Logan', 'Owen', 'Samuel', 'Jacob', 'Asher', 'Aiden', 'John', 'Joseph', 'Wyatt', 'David', 'Carlos', 'Jose', 'Minh', 'Wei', 'Omar', 'Darnell', 'Robert', 'Richard', 'Thomas', 'Charles'];
const FAMILY = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson', 'Walker', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores', 'Green', 'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell', 'Mitchell', 'Carter', 'Roberts', 'Chen', 'Kim', 'Patel', 'Tran', 'Olsen', 'Lindqvist'];
const MIDDLE = ['A.', 'B.', 'C.', 'D.', 'E.', 'J.', 'L.', 'M.', 'R.', 'S.', 'T.'];
const STREETS = ['Oak', 'Maple', 'Cedar', 'Pine', 'Alder', 'Willow', 'Birch', 'Hawthorne', 'Division', 'Burnside', 'Broadway', 'Lincoln', 'Jefferson', 'Madison', 'Washington', 'Front', 'River', 'Hillside', 'Sunset', 'Meadow'];
const STREET_KINDS = ['St', 'Ave', 'Blvd', 'Dr', 'Ln', 'Ct', 'Way'];

/** Cities of the service area, weighted by population, with a ZIP code range and area code. */
const CITIES: readonly (readonly [{ city: string; zip: number; zips: number; area: string }, number])[] = [
  [{ city: 'Portland', zip: 97201, zips: 36, area: '503' }, 30],
  [{ city: 'Salem', zip: 97301, zips: 6, area: '503' }, 9],
  [{ city: 'Eugene', zip: 97401, zips: 5, area: '541' }, 9],
  [{ city: 'Gresham', zip: 97030, zips: 1, area: '503' }, 6],
  [{ city: 'Hillsboro', zip: 97123, zips: 2, area: '503' }, 6],
  [{ city: 'Beaverton', zip: 97005, zips: 3, area: '971' }, 6],
  [{ city: 'Bend', zip: 97701, zips: 2, area: '541' }, 5],
  [{ city: 'Medford', zip: 97501, zips: 4, area: '541' }, 5],
  [{ city: 'Springfield', zip: 97477, zips: 2, area: '541' }, 3],
  [{ city: 'Corvallis', zip: 97330, zips: 4, area: '541' }, 3],
  [{ city: 'Albany', zip: 97321, zips: 2, area: '541' }, 3],
  [{ city: 'Tigard', zip: 97223, zips: 2, area: '503' }, 3],
];

export interface Address {
  line: string[];
  city: string;
  state: string;
  postalCode: string;
  country: string;
  area: string;
}

export function randomAddress(rng: Rng): Address {
  const c = rng.weighted(CITIES);
  return {
    line: [`${rng.int(100, 9899)} ${rng.pick(['', 'NE ', 'SE ', 'NW ', 'SW '])}${rng.pick(STREETS)} ${rng.pick(STREET_KINDS)}`],
    city: c.city,
    state: 'OR',
    postalCode: String(c.zip + rng.int(0, c.zips - 1)),
    country: 'US',
    area: c.area,
  };
}

export function fhirAddress(a: Address, use: 'home' | 'work' = 'home', period?: Json): Json {
  const out: Json = { use, line: a.line, city: a.city, state: a.state, postalCode: a.postalCode, country: a.country };
  if (period) out.period = period;
  return out;
}

export function phone(rng: Rng, area: string): string {
  return `${area}-555-01${String(rng.int(0, 99)).padStart(2, '0')}`;
}

export type Sex = 'female' | 'male';

export function givenName(rng: Rng, sex: Sex): string {
  return rng.pick(sex === 'female' ? FEMALE : MALE);
}

export function familyName(rng: Rng): string {
  return rng.pick(FAMILY);
}

export function middleInitial(rng: Rng): string {
  return rng.pick(MIDDLE);
}

interface Race {
  code: string;
  display: string;
  system: string;
}
const RACE = (code: string, display: string): Race => ({ system: SYS.omb, code, display });
const WHITE = RACE('2106-3', 'White');
const BLACK = RACE('2054-5', 'Black or African American');
const ASIAN = RACE('2028-9', 'Asian');
const AIAN = RACE('1002-5', 'American Indian or Alaska Native');
const NHPI = RACE('2076-8', 'Native Hawaiian or Other Pacific Islander');
const DECLINED: Race = { system: SYS.nullFlavor, code: 'ASKU', display: 'Asked but no answer' };

/** Race categories with weights near the service area's census mix (two races ≈ 6%). */
const RACES: readonly (readonly [Race[], number])[] = [
  [[WHITE], 71],
  [[BLACK], 6],
  [[ASIAN], 7],
  [[AIAN], 1.5],
  [[NHPI], 0.6],
  [[WHITE, ASIAN], 2],
  [[WHITE, BLACK], 2],
  [[WHITE, AIAN], 2],
  [[DECLINED], 7.9],
];

export interface Ethnicity {
  hispanic: boolean | undefined;
}

export function raceExtension(races: Race[]): Json {
  const text = races.length > 1 ? 'Two or more races' : races[0].display;
  return {
    url: US_CORE_EXT.race,
    extension: [...races.map((r) => ({ url: 'ombCategory', valueCoding: { system: r.system, code: r.code, display: r.display } })), { url: 'text', valueString: text }],
  };
}

export function ethnicityExtension(hispanic: boolean | undefined): Json {
  const c =
    hispanic === undefined
      ? { system: SYS.nullFlavor, code: 'ASKU', display: 'Asked but no answer' }
      : hispanic
        ? { system: SYS.omb, code: '2135-2', display: 'Hispanic or Latino' }
        : { system: SYS.omb, code: '2186-5', display: 'Not Hispanic or Latino' };
  return { url: US_CORE_EXT.ethnicity, extension: [{ url: 'ombCategory', valueCoding: c }, { url: 'text', valueString: c.display }] };
}

/** A household shares race and ethnicity in most cases; the draw is made once per household. */
export function drawRaceEthnicity(rng: Rng): { races: Race[]; hispanic: boolean | undefined } {
  const races = rng.weighted(RACES);
  const hispanic = rng.chance(0.05) ? undefined : rng.chance(0.14);
  return { races, hispanic };
}

export function drawLanguage(rng: Rng, hispanic: boolean | undefined, races: Race[]): { code: string; display: string } {
  if (hispanic && rng.chance(0.35)) return { code: 'es', display: 'Spanish' };
  if (races.includes(ASIAN) && rng.chance(0.3)) return rng.pick([{ code: 'vi', display: 'Vietnamese' }, { code: 'zh', display: 'Chinese' }]);
  if (rng.chance(0.01)) return { code: 'ru', display: 'Russian' };
  return { code: 'en', display: 'English' };
}
