// The results portal in headless Chromium, against a real `tallylog up` fed
// by a simulated election: the page loads, drills down to a station where an
// observer's copy differs from the official form and highlights it, the other
// views show what the API says, and a correction submitted afterwards appears
// on the open page without a reload.
//
// Run by scripts/test after `cargo test` (which builds target/debug/tallylog):
//   TALLYLOG_BIN=target/debug/tallylog TALLYLOG_BROWSER_DEPS=DIR node tests/browser/portal.test.mjs
// TALLYLOG_BROWSER_DEPS is the directory where `npm ci` installed this
// directory's package-lock.json (scripts/test keeps it under ~/.cache).
// TALLYLOG_SCREENSHOTS=docs/screenshots also saves the screenshots there.
// Exit code 0: every check passed; 1: a check failed (the reason is printed).

import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const deps = process.env.TALLYLOG_BROWSER_DEPS || here;
const { chromium } = createRequire(path.join(deps, 'package.json'))('playwright-core');
const bin = path.resolve(root, process.env.TALLYLOG_BIN
  || path.join(process.env.CARGO_TARGET_DIR || 'target', 'debug', 'tallylog'));
const chromiumPath = process.env.TALLYLOG_CHROMIUM || '/usr/bin/chromium';
const shotsDir = process.env.TALLYLOG_SCREENSHOTS ? path.resolve(root, process.env.TALLYLOG_SCREENSHOTS) : null;

const tmp = mkdtempSync(path.join(tmpdir(), 'tallylog-portal-'));
const cleanups = [];
const step = (what) => console.log(`portal test: ${what}`);

// Only this test's own settings reach the commands.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TALLYLOG_') || k === 'TALLYLOG_LOG'));
function tallylog(...args) {
  return execFileSync(bin, args, { cwd: tmp, env, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 120_000 });
}

// `tallylog up` in a process group of its own, so that its nats-server goes
// with it whatever happens to the test.
function up(sim, manifest) {
  const child = spawn(bin, ['up', '--data', path.join(tmp, 'data'), '--election', manifest.election,
    '--origin', manifest.origin, '--log-key', path.join(sim, 'keys', 'log.key'), '--http', '127.0.0.1:0'],
  { cwd: tmp, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
  cleanups.push(() => stop(child));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`tallylog up printed no URLs in 60 s:\n${out}\n${stderr}`)), 60_000);
    child.on('exit', (code) => reject(new Error(`tallylog up exited (${code}):\n${stderr}`)));
    child.stdout.on('data', (d) => {
      out += d;
      const nats = /^nats: (\S+)/m.exec(out);
      const http = /^gateway: (http:\/\/\S+)/m.exec(out);
      if (nats && http) {
        clearTimeout(timer);
        resolve({ nats: nats[1], http: http[1], child });
      }
    });
  });
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  try { process.kill(-child.pid, 'SIGTERM'); } catch { return; }
  const quit = await Promise.race([gone.then(() => true), new Promise((r) => setTimeout(() => r(false), 15_000))]);
  if (!quit) try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
}

async function until(what, check, ms = 60_000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last && (last.message || JSON.stringify(last))})`);
}

async function main() {
  step(`simulating a tiny election with ${bin}`);
  const sim = path.join(tmp, 'sim');
  tallylog('simulate', '--size', 'tiny', '--seed', '7', '--out', sim);
  const manifest = JSON.parse(readFileSync(path.join(sim, 'manifest.json'), 'utf8'));
  const people = JSON.parse(readFileSync(path.join(sim, 'participants.json'), 'utf8'));

  step('starting tallylog up on a free port');
  const svc = await up(sim, manifest);
  const get = async (p) => {
    const r = await fetch(svc.http + p);
    if (!r.ok) throw new Error(`GET ${p}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  await until('the ledger', async () => (await get('/healthz')).ledger === true);

  step(`submitting ${manifest.events} events`);
  tallylog('submit', '--nats', svc.nats, '--root-key', manifest.root_key, ...manifest.files.map((f) => path.join(sim, f.file)));
  await until('the gateway to hold and check every entry', async () => {
    const h = await get('/healthz');
    return h.size === manifest.events && h.checkpoint === manifest.events;
  });

  // The facts the page must show, from the API (never from the page itself).
  const observers = people.publishers.filter((p) => p.role === 'observer');
  let pick = null;
  for (const o of observers) {
    const m = await get(`/v1/mismatches?b=${encodeURIComponent(`observer:${o.organisation}`)}`);
    if (m.answer.rows.length) { pick = { observer: o, row: m.answer.rows[0] }; break; }
  }
  assert.ok(pick, 'the simulated election has a station where an observer differs from the official form');
  const station = pick.row.station;
  const org = pick.observer.organisation;
  const place = (await get(`/v1/regions/${station}`)).answer;
  const seats = (await get('/v1/seats')).answer.totals.reduce((a, p) => a + p.seats, 0);
  const complaints = (await get('/v1/complaints?limit=10000')).answer.total;
  step(`the disputed station: ${station} (${org})`);

  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  cleanups.unshift(() => browser.close());
  const errors = [];
  const open = async (viewport) => {
    const page = await browser.newPage({ viewport });
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    return page;
  };
  // Whole pages where the length is the point; the first screen elsewhere.
  const shot = async (page, name, fullPage = false) => {
    const file = path.join(shotsDir || path.join(tmp, 'shots'), name);
    mkdirSync(path.dirname(file), { recursive: true });
    await page.screenshot({ path: file, fullPage });
  };
  const heading = (page, text) => page.locator('main h1', { hasText: text }).waitFor();

  step('the national view');
  const page = await open({ width: 1280, height: 900 });
  await page.goto(svc.http);
  await heading(page, 'Whole election');
  const all = manifest.spec.stations;
  await page.locator('.coverage-text').waitFor();
  assert.match(await page.locator('.coverage-text').innerText(), new RegExp(`^${all} of ${all} stations reporting`));
  assert.equal(await page.locator('svg.parliament circle').count(), seats, 'one dot per seat');
  await page.locator('#live[data-state="live"]').waitFor();
  await shot(page, 'results.png');

  step('drilling down to the station');
  for (const p of place.path) {
    await page.locator('main table.regions').getByRole('link', { name: p.name, exact: true }).click();
    await heading(page, p.name);
    await page.locator('.coverage-text').waitFor();
    assert.match(await page.locator('.coverage-text').innerText(), /^\d+ of \d+ stations reporting/);
  }
  const row = page.locator(`tr[data-region="${station}"]`);
  assert.match(await row.getAttribute('class'), /row-mismatch/, 'the commune marks the disputed station');
  assert.ok(await row.locator('.badge.mismatch', { hasText: org }).isVisible(), 'and names who differs');
  await shot(page, 'commune.png');
  await row.locator('a').first().click();
  await heading(page, `Station ${station}`);
  const verdict = page.locator('.verdict.mismatch');
  await verdict.waitFor();
  assert.match(await verdict.innerText(), /Sources disagree/);
  assert.ok((await verdict.innerText()).includes(`${org} (observer)`), 'the banner names the observer');
  const diffs = page.locator('table.forms td.diff');
  assert.ok(await diffs.count() >= 1, 'differing figures are highlighted');
  const d = pick.row.differences[0];
  assert.ok((await diffs.allInnerTexts()).includes(d.b.toLocaleString('en-US')), `the observer's ${d.field} is highlighted`);
  assert.ok(await page.locator('li.version').count() >= 2, 'every version is listed');
  assert.ok((await page.locator('li.version').first().innerText()).includes('Signed by key'));
  await shot(page, 'station.png', true);

  step('switching the source');
  await page.goto(svc.http);
  await heading(page, 'Whole election');
  await page.selectOption('#source', `observer:${org}`);
  await page.locator('.coverage-text', { hasText: `${org} (observer)` }).waitFor();

  step('the comparison view');
  await page.goto(`${svc.http}/#/compare?b=${encodeURIComponent(`observer:${org}`)}`);
  await heading(page, 'Official figures against other sources');
  await page.locator(`.mismatches li[data-station="${station}"]`).waitFor();
  assert.match(await page.locator('#match-rate').innerText(), /^\d+\.\d%$/);
  await shot(page, 'compare.png');

  step('the complaints board');
  await page.goto(`${svc.http}/#/complaints`);
  await heading(page, 'Complaints board');
  await page.locator('article.complaint').first().waitFor();
  assert.equal(await page.locator('article.complaint').count(), complaints);
  assert.ok(await page.locator('blockquote.reasoning').count() >= 1, 'resolved complaints show their reasoning');
  await shot(page, 'complaints.png');

  step('the audit panel');
  await page.goto(`${svc.http}/#/audit`);
  await heading(page, 'Audit');
  assert.equal(await page.locator('#checkpoint-size').innerText(), String(manifest.events));
  assert.ok((await page.locator('main').innerText()).includes(`--root-key ${manifest.root_key}`));
  await page.locator('#tallies code.hash').waitFor();
  // The page's own instructions work: its audit command verifies this log.
  const audit = (await page.locator('pre.cmd', { hasText: '--gateway' }).innerText()).replace(/\\\n/g, ' ');
  const [cmd, ...args] = audit.trim().split(/\s+/);
  assert.equal(cmd, 'tallylog');
  tallylog(...args);
  await shot(page, 'audit.png');

  step('on a phone');
  const phone = await open({ width: 390, height: 844 });
  for (const [route, name, title] of [['', 'phone-results.png', 'Whole election'], [`#/station/${station}`, 'phone-station.png', `Station ${station}`]]) {
    await phone.goto(`${svc.http}/${route}`);
    await heading(phone, title);
    const wide = await phone.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 390, `nothing wider than the phone's screen (${wide} px)`);
    await shot(phone, name);
  }

  step('a correction appears live');
  await page.goto(`${svc.http}/#/station/${station}`);
  await heading(page, `Station ${station}`);
  await page.locator('#live[data-state="live"]').waitFor();
  await page.evaluate(() => { window.sameDocument = true; });
  const view = (await get(`/v1/stations/${station}`)).answer;
  const official = view.versions.find((v) => v.current && v.source && v.source.role === 'authority');
  const theirs = view.versions.find((v) => v.current && v.source && v.source.org === org);
  const form = { ...official.form };
  delete form.image_sha256;
  const draft = {
    kind: 'correction',
    election: manifest.election,
    time: new Date(Date.parse(manifest.last_time) + 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    data: { supersedes: theirs.event, reason: 'Our copy was misread; the official form is right.', form },
  };
  writeFileSync(path.join(tmp, 'draft.json'), JSON.stringify(draft));
  const signed = tallylog('event', 'sign', '--key', path.join(sim, pick.observer.key_file), '--data', path.join(tmp, 'draft.json'));
  writeFileSync(path.join(tmp, 'correction.jsonl'), signed);
  tallylog('submit', '--nats', svc.nats, '--root-key', manifest.root_key, path.join(tmp, 'correction.jsonl'));
  const index = manifest.events;
  await page.locator(`#feed-list li[data-index="${index}"]`, { hasText: 'Correction' }).waitFor();
  await page.locator(`li.version[data-index="${index}"]`, { hasText: 'current' }).waitFor();
  assert.equal(await page.evaluate(() => window.sameDocument), true, 'the page was not reloaded');
  await until('the banner to drop the corrected observer', async () => {
    const text = await page.locator('.verdict').first().innerText();
    return !text.includes(`${org} (observer):`);
  }, 20_000);
  await shot(page, 'live-correction.png', true);

  step('publishers\' text is shown as text, never run as markup');
  const markup = '<img src=x onerror="window.pwned=1"><b>closed doors</b>';
  const complaint = {
    kind: 'complaint_filed',
    election: manifest.election,
    time: new Date(Date.parse(manifest.last_time) + 7200_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    data: { region: station, category: 'closed_counting', summary: markup, evidence: [], refs: [] },
  };
  writeFileSync(path.join(tmp, 'draft.json'), JSON.stringify(complaint));
  writeFileSync(path.join(tmp, 'complaint.jsonl'),
    tallylog('event', 'sign', '--key', path.join(sim, pick.observer.key_file), '--data', path.join(tmp, 'draft.json')));
  tallylog('submit', '--nats', svc.nats, '--root-key', manifest.root_key, path.join(tmp, 'complaint.jsonl'));
  await page.goto(`${svc.http}/#/complaints?show=open`);
  await page.locator('article.complaint .summary', { hasText: markup }).waitFor();
  assert.equal(await page.locator('article.complaint img, article.complaint .summary b').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);

  assert.deepEqual(errors, [], 'no script errors on any page');
  step('passed');
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.error(`portal test FAILED: ${e.stack || e}`);
} finally {
  for (const c of cleanups) {
    try { await c(); } catch { /* best effort */ }
  }
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
