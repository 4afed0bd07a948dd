/**
 * Headless Chromium for the console's end-to-end tests: Debian's /usr/bin/chromium driven by
 * playwright-core (no browser download), with the flags this offline machine needs and a fresh
 * profile per launch. Without Chromium the tests are skipped — except in CI (.ci/run installs it),
 * where a missing browser is a failure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  if (fs.existsSync(CHROMIUM)) return undefined;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`);
  return `${CHROMIUM} is not installed (apt-get install -y chromium)`;
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function launch(): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'payer-fhir-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1360, height: 900 },
    // No transitions: axe and clicks see dialogs as they end up, not half faded in (the console respects reduced motion).
    reducedMotion: 'reduce',
    timeout: 60_000,
  });
  context.setDefaultTimeout(20_000);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

const AXE = fs.readFileSync(path.join(path.dirname(new URL(import.meta.resolve('axe-core')).pathname), 'axe.min.js'), 'utf8');

/** Runs axe-core on the page as it is (through the DevTools protocol, so the page's CSP stays as it is); returns serious and critical violations. */
export async function axeViolations(page: Page): Promise<{ id: string; impact: string; help: string; nodes: string[] }[]> {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    const r = await (window as any).axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v: any) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n: any) => n.target.join(' ')) }));
  });
  return (result as { id: string; impact: string; help: string; nodes: string[] }[]).filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Saves a screenshot into docs/ when SCREENSHOTS=1 (how the README's pictures are made). */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.SCREENSHOTS !== '1') return;
  const root = path.resolve(import.meta.dirname, '..', '..', '..');
  await page.screenshot({ path: path.join(root, 'docs', `${name}.png`), fullPage: false });
}
