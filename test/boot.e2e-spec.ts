import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { reusePortUnsupported } from '../src/common/listening';
import { ConfigError } from '../src/config/load-config';
import { World } from './support/factories';
import { expectStatus } from './support/problems';
import { startTestApp, TestApp } from './support/test-app';
import { ServerProcess } from './support/server-process';
import { createTestDatabase } from './support/test-database';

/** the default organization, auto-join, and configuration checked at boot. */
describe('boot', () => {
  const DEFAULT_ORG_ENV = {
    OPENROUTER_EXTERNAL_USER: 'mai_client_Default',
    ORGANIZATION_NAME: 'Domyślna organizacja — 默认',
  };

  async function organizationCreations(t: TestApp): Promise<{ actor: string }[]> {
    const res = await t.get('/api/v1/audit?action=organization.create&limit=500');
    expectStatus(res, 200);
    return res.body.data;
  }

  it('seeds the default organization once when two processes boot at the same moment on a fresh database', async () => {
    const db = await createTestDatabase();
    const [one, two] = await Promise.all([
      startTestApp(DEFAULT_ORG_ENV, db),
      startTestApp(DEFAULT_ORG_ENV, db),
    ]);
    try {
      for (const t of [one, two]) {
        const list = await t.get('/api/v1/organizations');
        expectStatus(list, 200);
        expect(list.body.total).toBe(1);
        expect(list.body.data[0]).toMatchObject({
          id: 'mai_client_default',
          external_user: 'mai_client_Default',
          name: DEFAULT_ORG_ENV.ORGANIZATION_NAME,
          is_active: true,
          auto_grant_new_models: false,
        });
      }
      expect(await organizationCreations(one)).toEqual([
        expect.objectContaining({ actor: 'system' }),
      ]);
      // a third boot, later, finds it and changes nothing
      await one.app.close();
      const three = await startTestApp({ ...DEFAULT_ORG_ENV, ORGANIZATION_NAME: 'Renamed?' }, db);
      expect((await three.get('/api/v1/organizations')).body.data).toEqual([
        expect.objectContaining({ name: DEFAULT_ORG_ENV.ORGANIZATION_NAME }),
      ]);
      expect(await organizationCreations(three)).toHaveLength(1);
      await three.app.close();
    } finally {
      await two.close();
    }
  });

  describe('with the default organization', () => {
    let t: TestApp;
    let w: World;
    beforeAll(async () => {
      t = await startTestApp(DEFAULT_ORG_ENV);
      w = new World(t);
    });
    afterAll(async () => t.close());

    it('adds each new user to it as an active member, once', async () => {
      const user = await w.user('joiner');
      const orgs = await t.get('/api/v1/users/joiner/organizations');
      expect(orgs.body.data).toEqual([
        expect.objectContaining({
          organization_id: 'mai_client_default',
          role: 'member',
          is_active: true,
        }),
      ]);
      // updating the user does not add them again, nor back after an admin removed them
      expectStatus(await t.delete(`/api/v1/organizations/mai_client_default/members/${user}`), 204);
      await w.user(user, { name: 'Renamed' });
      expect((await t.get('/api/v1/users/joiner/organizations')).body.data).toEqual([]);
    });

    it('grants nothing by itself: the new member uses the models the organization is granted', async () => {
      const user = await w.user();
      const model = await w.model();
      expect((await w.check(user, model)).reason).toBe('no_grant');
      await w.grant('mai_client_default', model);
      expect(await w.check(user, model)).toMatchObject({
        allowed: true,
        organization_id: 'mai_client_default',
        openrouter_user: expect.stringMatching(/^mai_client_Default_user_[0-9a-f]{8}$/),
      });
    });

    it('adds every new user, however many', async () => {
      const before = (await t.get('/api/v1/organizations/mai_client_default')).body.member_count;
      await w.user();
      await w.user();
      const after = (await t.get('/api/v1/organizations/mai_client_default')).body.member_count;
      expect(after).toBe(before + 2);
    });
  });

  it('does not auto-join when AUTO_JOIN_DEFAULT_ORGANIZATION=false', async () => {
    const t = await startTestApp({ ...DEFAULT_ORG_ENV, AUTO_JOIN_DEFAULT_ORGANIZATION: 'false' });
    try {
      await new World(t).user('loner');
      expect((await t.get('/api/v1/users/loner/organizations')).body.data).toEqual([]);
      expect((await t.get('/api/v1/organizations/mai_client_default')).body.member_count).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('seeds nothing without OPENROUTER_EXTERNAL_USER, and new users join nothing', async () => {
    const t = await startTestApp();
    try {
      expect((await t.get('/api/v1/organizations')).body.total).toBe(0);
      await new World(t).user('nobody-joins');
      expect((await t.get('/api/v1/users/nobody-joins/organizations')).body.data).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('boots without seeding when another organization already uses that external_user', async () => {
    const db = await createTestDatabase();
    const first = await startTestApp({}, db);
    await new World(first).org('taken', { external_user: 'mai_client_Default' });
    await first.app.close();
    const second = await startTestApp(DEFAULT_ORG_ENV, db);
    try {
      const orgs = await second.get('/api/v1/organizations');
      expect(orgs.body.data.map((o: { id: string }) => o.id)).toEqual(['taken']);
      await new World(second).user('no-default');
      expect((await second.get('/api/v1/users/no-default/organizations')).body.data).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it('refuses to boot on bad configuration, naming every bad variable', async () => {
    const boot = startTestApp({
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      AUTO_JOIN_DEFAULT_ORGANIZATION: 'maybe',
      OPENROUTER_EXTERNAL_USER: 'bad value!',
      ADMIN_API_KEYS: 'short',
    });
    await expect(boot).rejects.toThrow(ConfigError);
    const message = await boot.then(
      () => '',
      (e: Error) => e.message,
    );
    for (const name of [
      'PORT',
      'LOG_LEVEL',
      'AUTO_JOIN_DEFAULT_ORGANIZATION',
      'OPENROUTER_EXTERNAL_USER',
      'ADMIN_API_KEYS',
    ]) {
      expect(message).toContain(name);
    }
  });

  it.each([
    ['WEBUI_SECRET_KEY', 't0p-s3cr3t', /WEBUI_SECRET_KEY is a publicly known default/],
    [
      'METRICS_TOKEN',
      'metrics-token-0123456789abcdef',
      /METRICS_TOKEN is 30 characters; at least 32/,
    ],
    ['ADMIN_API_KEYS', 'an-admin-key-of-24-chars', /ADMIN_API_KEYS entry 1 is 24 characters/],
  ])(
    'stops the built server with exit 2 and one clear line for a weak %s',
    async (name, value, line) => {
      const server = await ServerProcess.start({ DATABASE_URL: 'sqlite::memory:', [name]: value });
      expect(await server.exit()).toBe(2);
      const output = server.output.join('');
      expect(output).toMatch(line);
      expect(output).not.toContain(value);
    },
  );

  describe('listening sockets (LISTEN_SOCKETS)', () => {
    /** Sockets of any process listening on TCP `port` (IPv4), from the kernel's table. */
    function listenersOn(port: number): number {
      const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
      return readFileSync('/proc/net/tcp', 'utf8')
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((fields) => fields[1]?.endsWith(hex) && fields[3] === '0A').length;
    }

    /** The status of a GET on a connection of its own (no keep-alive pool). */
    function getOnNewConnection(url: string): Promise<number> {
      return new Promise((resolve, reject) => {
        get(url, { agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        }).on('error', reject);
      });
    }

    function listeningLine(server: ServerProcess): Record<string, unknown> {
      const line = server.output
        .join('')
        .split('\n')
        .find((l) => l.includes('"msg":"listening"'));
      return JSON.parse(line!) as Record<string, unknown>;
    }

    it('listens on that many sockets where Node can share the port, and serves connections from every one', async () => {
      const server = await ServerProcess.start({
        DATABASE_URL: 'sqlite::memory:',
        LISTEN_SOCKETS: '4',
      });
      try {
        await server.ready();
        const unsupported = reusePortUnsupported();
        const sockets = unsupported === null ? 4 : 1;
        expect(listeningLine(server)).toMatchObject({ listen_sockets: sockets });
        expect(listeningLine(server).listen_sockets_note).toBe(unsupported ?? undefined);
        expect(listenersOn(server.port)).toBe(sockets);
        // the kernel spreads new connections over the sockets: each must reach the service
        const statuses = await Promise.all(
          Array.from({ length: 64 }, () => getOnNewConnection(`${server.url}/health`)),
        );
        expect(statuses).toEqual(Array<number>(64).fill(200));
        expect(await server.stop()).toBe(0);
        expect(listenersOn(server.port)).toBe(0);
      } finally {
        await server.stop();
      }
    });

    it('refuses to start on a port the service already listens on, even where the port can be shared', async () => {
      const first = await ServerProcess.start({ DATABASE_URL: 'sqlite::memory:' });
      try {
        await first.ready();
        const second = await ServerProcess.start({
          DATABASE_URL: 'sqlite::memory:',
          PORT: String(first.port),
        });
        expect(await second.exit()).toBe(1);
        expect(second.output.join('')).toContain('EADDRINUSE');
        // the first one still answers, alone on its port
        expect(await getOnNewConnection(`${first.url}/health`)).toBe(200);
      } finally {
        await first.stop();
      }
    });
  });
});
