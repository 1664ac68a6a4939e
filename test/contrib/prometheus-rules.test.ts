/**
 * contrib/prometheus: the shipped alerting rules are valid (`promtool check
 * rules`), fire exactly as their unit tests say (`promtool test rules`), and
 * use only metric names the importer exports (a renamed metric breaks this
 * test, not an operator's alerting). promtool comes from Debian's prometheus
 * package, unpacked by .ci/run; missing, the test is skipped with the reason
 * (failed in CI).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../../src/config/paths.js';
import { peerMissing } from '../helpers/peers.js';
import { startMetrics } from '../metrics/helpers.js';

const RULES_DIR = join(PACKAGE_ROOT, 'contrib', 'prometheus');

function findPromtool(): string | undefined {
  const tools = process.env['JP_TEST_TOOLS_DIR'] ?? '/opt/jp-test-tools';
  for (const p of [join(tools, 'prometheus', 'usr', 'bin', 'promtool'), '/usr/bin/promtool', '/usr/local/bin/promtool']) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

test('promtool: the rules check, and their unit tests pass', (t) => {
  const promtool = findPromtool();
  if (promtool === undefined) {
    peerMissing(t, 'promtool is not installed (Debian package prometheus; .ci/run unpacks it into /opt/jp-test-tools/prometheus)');
    return;
  }
  const check = spawnSync(promtool, ['check', 'rules', 'jp-importer.rules.yml'], { cwd: RULES_DIR, encoding: 'utf8', timeout: 60_000 });
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
  assert.match(check.stdout, /SUCCESS: 6 rules found/);
  const unit = spawnSync(promtool, ['test', 'rules', 'jp-importer.rules.test.yml'], { cwd: RULES_DIR, encoding: 'utf8', timeout: 60_000 });
  assert.equal(unit.status, 0, `${unit.stdout}${unit.stderr}`);
});

test('every jp_importer_ metric the rules use is one the importer exports', async (t) => {
  const rules = readFileSync(join(RULES_DIR, 'jp-importer.rules.yml'), 'utf8');
  const used = new Set(rules.match(/\bjp_importer_[a-z_]+/g) ?? []);
  assert.ok(used.size >= 5, `rules use ${[...used].join(', ')}`);
  const m = await startMetrics(t);
  m.workerRestarted('reg', 'reg');
  const text = await m.text();
  const exported = new Set([...text.matchAll(/^# TYPE (jp_importer_[a-z_]+) /gm)].map((x) => x[1]));
  for (const name of used) assert.ok(exported.has(name), `${name} is used by the rules but not exported (exported: ${[...exported].join(', ')})`);
});
