import { Logger } from '@nestjs/common';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load-config';
import { MigrationReport, migrateOrganizations } from '../tools/lib/openwebui/migrate';
import { World } from './support/factories';
import { awkwardDeployment, OwuiVersion, tempDir, writeOpenWebUiSqlite } from './support/openwebui';
import { openWebUiUsableModels } from './support/openwebui-reader';
import { enc, startTestApp } from './support/test-app';
import { createTestDatabase } from './support/test-database';

/**
 * The migration keeps what Open WebUI allowed. For every migrated user, the models the service
 * lets them use (its own listing, through the real app) are a subset of what Open WebUI let
 * them use (an independent reading of its tables, test/support/openwebui-reader.ts); with
 * --groups-as-organizations they are equal, except the (model, user) pairs the report lists
 * as not carried over, which only single-user grants and ownership may explain.
 */
describe.each<OwuiVersion>(['0.10', '0.6'])(
  'migrate-organizations keeps what Open WebUI %s allowed',
  (version) => {
    let tmp: ReturnType<typeof tempDir>;
    let source: string;
    let openWebUi: Map<string, Set<string>>;

    beforeAll(() => {
      Logger.overrideLogger(['error']);
      tmp = tempDir();
      source = writeOpenWebUiSqlite(join(tmp.dir, 'webui.db'), awkwardDeployment(), version);
      openWebUi = openWebUiUsableModels(source);
    });
    afterAll(() => tmp.remove());

    /** Migrates into a fresh service database, then reads every user's models through the API. */
    async function migrateAndList(groupsAsOrganizations: boolean) {
      const target = await createTestDatabase();
      try {
        const report = await migrateOrganizations({
          source,
          externalUser: 'mai_client_acme',
          name: 'ACME',
          groupsAsOrganizations,
          config: loadConfig({ DATABASE_URL: target.url, LOG_LEVEL: 'error' }),
          backupDir: join(tmp.dir, 'backups'),
        });
        const t = await startTestApp({}, target);
        try {
          const w = new World(t);
          const usable = new Map<string, Set<string>>();
          for (const userId of openWebUi.keys()) {
            if ((await t.get(`/api/v1/users/${enc(userId)}`)).status === 200) {
              usable.set(userId, new Set(await w.modelsOf(userId)));
            }
          }
          return { report, usable };
        } finally {
          await t.app.close();
        }
      } finally {
        await target.drop();
      }
    }

    function reportedFor(report: MigrationReport, userId: string): Set<string> {
      return new Set(
        report.not_carried_over.filter((n) => n.user_id === userId).map((n) => n.model_id),
      );
    }

    function expectSubsetAndAccounted(
      report: MigrationReport,
      usable: Map<string, Set<string>>,
    ): void {
      expect(usable.size).toBeGreaterThan(150); // every valid non-pending user was checked
      const widened: string[] = [];
      const unaccounted: string[] = [];
      for (const [userId, models] of usable) {
        const allowed = openWebUi.get(userId)!;
        const reported = reportedFor(report, userId);
        for (const m of models) {
          if (!allowed.has(m)) {
            widened.push(`${userId} -> ${m}`);
          }
        }
        for (const m of allowed) {
          if (!models.has(m) && !reported.has(m)) {
            unaccounted.push(`${userId} -> ${m}`);
          }
        }
        for (const m of reported) {
          expect({ userId, m, allowed: allowed.has(m), usable: models.has(m) }).toEqual({
            userId,
            m,
            allowed: true,
            usable: false,
          });
        }
      }
      expect(widened).toEqual([]);
      expect(unaccounted).toEqual([]);
    }

    it('gives no user a model Open WebUI withheld; what it drops is reported', async () => {
      const { report, usable } = await migrateAndList(false);
      expectSubsetAndAccounted(report, usable);
      // Not vacuous: restricted models exist, and public ones reach everyone.
      const allUsable = [...usable.values()];
      expect(allUsable.every((s) => s.has('openai/gpt-4o') && s.has('perplexity/sonar'))).toBe(
        true,
      );
      expect(allUsable.some((s) => s.has('anthropic/claude-3.5-sonnet:beta'))).toBe(false);
      expect(report.not_carried_over.length).toBeGreaterThan(50);
      expect(report.source.access).toBe(version === '0.10' ? 'access_grant' : 'access_control');
    });

    it('with --groups-as-organizations gives exactly what Open WebUI did, except the reported single-user grants', async () => {
      const { report, usable } = await migrateAndList(true);
      expectSubsetAndAccounted(report, usable);
      for (const n of report.not_carried_over) {
        expect(n.via).toMatch(/^(owner|user grant)( via preset .+)?$/);
      }
      // Group models arrive through the group's organization, presets through their base.
      const salesOrg = report.organizations.find((o) => o.name === 'Sales')!;
      expect(salesOrg.members).toBeGreaterThan(0);
      expect(report.organizations.map((o) => o.name)).toEqual(
        expect.arrayContaining(['ACME', 'Sales', 'Engineering 工程', 'Contractors', 'Empty']),
      );
      expect([...usable.values()].some((s) => s.has('anthropic/claude-3.5-sonnet:beta'))).toBe(
        true,
      );
      expect([...usable.values()].some((s) => s.has('base/no-row-of-its-own'))).toBe(true);
      // An inactive base, an unserved base and a stale override row give nothing to anyone.
      for (const s of usable.values()) {
        expect(s.has('microsoft/phi-3-medium')).toBe(false);
        expect(s.has('gone/away')).toBe(false);
        expect(s.has('retired/model-gone')).toBe(false);
      }
      const reasons = Object.fromEntries(report.skipped.map((s) => [s.id, s.reason]));
      expect(reasons['off-base']).toMatch(/"microsoft\/phi-3-medium" is inactive in Open WebUI/);
      expect(reasons['unserved-base']).toMatch(/"gone\/away" is not served/);
      expect(reasons['retired/model-gone']).toMatch(/no Open WebUI connection serves any more/);
      expect(reasons['sleeping-preset']).toMatch(/inactive preset: grants nothing/);
      expect(reasons['preset-on-preset']).toMatch(/built on another preset/);
    });
  },
);
