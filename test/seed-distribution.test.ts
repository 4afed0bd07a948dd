// The synthetic population's shape (README "Synthetic population"): the stated ranges for
// age and sex mix, household size, coverage lapses, chronic-disease prevalence by age band,
// claim mix and attribution, measured on 500 members. The seed is fixed, so the check is
// deterministic; the ranges are the documented ones, wide enough for 500-member sampling.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { generatePopulation } from '../src/seed/generator.js';
import { measure, prevalence, type Band, type PopulationStats } from './helpers/seed-stats.js';

function within(name: string, value: number, lo: number, hi: number): void {
  assert.ok(value >= lo && value <= hi, `${name} = ${value.toFixed(3)}, outside the stated range [${lo}, ${hi}]`);
}

describe('seed population distributions (500 members)', () => {
  let s: PopulationStats;
  before(() => {
    s = measure(generatePopulation({ seed: 'distribution', members: 500 }));
  });

  it('has 500 members and roughly 100 resources each', () => {
    assert.equal(s.members, 500);
    within('resources per member', s.resources / s.members, 90, 130);
  });

  it('sex and age mix', () => {
    within('female share', s.female / s.members, 0.44, 0.56);
    const share = (b: Band) => s.bands[b] / s.members;
    within('age 0-17', share('0-17'), 0.2, 0.35);
    within('age 18-44', share('18-44'), 0.28, 0.42);
    within('age 45-64', share('45-64'), 0.18, 0.32);
    within('age 65+', share('65+'), 0.08, 0.2);
  });

  it('households: dependants per subscriber', () => {
    within('dependants per subscriber', s.dependants / s.subscribers, 0.9, 1.6);
  });

  it('enrolment: a minority of members has a lapse in coverage; most are still enrolled', () => {
    within('members with a coverage gap', s.withLapse / s.members, 0.1, 0.3);
    within('members enrolled on the as-of day', s.currentMembers / s.members, 0.55, 0.9);
  });

  it('chronic disease prevalence rises with age as stated', () => {
    within('diabetes 18-44', prevalence(s, '18-44', 'E11.9'), 0.01, 0.08);
    within('diabetes 45-64', prevalence(s, '45-64', 'E11.9'), 0.08, 0.22);
    within('diabetes 65+', prevalence(s, '65+', 'E11.9'), 0.12, 0.38);
    within('hypertension 18-44', prevalence(s, '18-44', 'I10'), 0.05, 0.16);
    within('hypertension 45-64', prevalence(s, '45-64', 'I10'), 0.25, 0.45);
    within('hypertension 65+', prevalence(s, '65+', 'I10'), 0.45, 0.75);
    within('hyperlipidemia 45-64', prevalence(s, '45-64', 'E78.5'), 0.15, 0.35);
    within('hyperlipidemia 65+', prevalence(s, '65+', 'E78.5'), 0.35, 0.6);
    within('heart failure 65+', prevalence(s, '65+', 'I50.9'), 0.03, 0.15);
    within('COPD 65+', prevalence(s, '65+', 'J44.9'), 0.04, 0.16);
    within('asthma 0-17', prevalence(s, '0-17', 'J45.909'), 0.015, 0.12);
    within('depression 18-44', prevalence(s, '18-44', 'F32.9'), 0.05, 0.14);
    // No heart failure or COPD in children.
    assert.equal(prevalence(s, '0-17', 'I50.9'), 0);
    assert.equal(prevalence(s, '0-17', 'J44.9'), 0);
  });

  it('claims: every CARIN BB claim type occurs, in a plausible order of frequency', () => {
    const per = (t: string) => (s.eobTypes.get(t) ?? 0) / s.members;
    for (const t of ['professional', 'pharmacy', 'oral', 'institutional/outpatient', 'institutional/inpatient']) assert.ok(per(t) > 0, `no ${t} claims`);
    assert.ok(per('institutional/inpatient') < per('institutional/outpatient'));
    assert.ok(per('institutional/outpatient') < per('professional'));
    within('professional claims per member', per('professional'), 6, 16);
    within('pharmacy claims per member', per('pharmacy'), 6, 20);
  });

  it('attribution: most current members are on exactly one provider list', () => {
    within('attributed share of current members', s.attributed / s.currentMembers, 0.85, 1);
    const lists = [...generatePopulation({ seed: 'distribution', members: 500 })].filter((r: any) => r.resourceType === 'Group' && r.id.startsWith('attribution-')) as any[];
    const seen = new Set<string>();
    for (const g of lists) {
      for (const m of g.member ?? []) {
        assert.ok(!seen.has(m.entity.reference), `${m.entity.reference} attributed twice`);
        seen.add(m.entity.reference);
      }
    }
  });
});
