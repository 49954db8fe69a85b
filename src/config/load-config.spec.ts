import { CONFIG_VARIABLES, ConfigError, loadConfig } from './load-config';

const KEY_A = 'key-a-3f9c1d7e5b2a4c6d8e0f1a2b3c4d5e6f';
const KEY_B = 'key-b-8e7d6c5b4a39281706f5e4d3c2b1a098';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      return error.problems;
    }
    throw error;
  }
  return [];
}

describe(loadConfig.name, () => {
  it('needs no configuration: every default is valid', () => {
    const sut = loadConfig({});
    expect(sut).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      databaseKind: 'sqlite',
      sqlitePath: './data/app.db',
      sqliteCheckpointIntervalMs: 1000,
      adminApiKeys: [],
      openrouterExternalUser: null,
      organizationName: 'Default Organization',
      autoJoinDefaultOrganization: true,
      logLevel: 'info',
      metricsToken: null,
      corsOrigins: [],
      trustProxy: [],
    });
  });

  it('documents every variable once, with a default and a description', () => {
    const names = CONFIG_VARIABLES.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    for (const v of CONFIG_VARIABLES) {
      expect(v.name).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(v.description.length).toBeGreaterThan(10);
    }
    // every documented default passes validation
    const defaults = Object.fromEntries(CONFIG_VARIABLES.map((v) => [v.name, v.default]));
    expect(problemsOf(defaults)).toEqual([]);
  });

  it('paces requests on PostgreSQL by default, not on SQLite, and as told', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://db/app' }).requestsPerTurn).toBe(64);
    expect(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).requestsPerTurn).toBe(0);
    expect(loadConfig({}).requestsPerTurn).toBe(0);
    expect(
      loadConfig({ DATABASE_URL: 'postgres://db/app', REQUESTS_PER_TURN: '0' }).requestsPerTurn,
    ).toBe(0);
    expect(loadConfig({ REQUESTS_PER_TURN: '16' }).requestsPerTurn).toBe(16);
    expect(() => loadConfig({ REQUESTS_PER_TURN: 'many' })).toThrow(/REQUESTS_PER_TURN/);
    expect(() => loadConfig({ REQUESTS_PER_TURN: '-1' })).toThrow(/REQUESTS_PER_TURN/);
  });

  it('reads PostgreSQL and SQLite URLs', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/app' })).toMatchObject({
      databaseKind: 'postgres',
    });
    expect(loadConfig({ DATABASE_URL: 'postgresql://db/app' }).databaseKind).toBe('postgres');
    expect(loadConfig({ DATABASE_URL: 'sqlite:/var/lib/app.db' }).sqlitePath).toBe(
      '/var/lib/app.db',
    );
    expect(loadConfig({ DATABASE_URL: 'sqlite:///var/lib/app.db' }).sqlitePath).toBe(
      '/var/lib/app.db',
    );
  });

  it('parses lists and booleans, trimming blanks', () => {
    const sut = loadConfig({
      ADMIN_API_KEYS: ` ${KEY_A} , , ${KEY_B} `,
      CORS_ORIGINS: 'https://a.example, https://b.example',
      AUTO_JOIN_DEFAULT_ORGANIZATION: 'OFF',
      TRUST_PROXY: ' 127.0.0.1 , 10.0.0.0/8,::1, fd00::/8 ',
      PORT: ' 9000 ',
    });
    expect(sut.adminApiKeys).toEqual([KEY_A, KEY_B]);
    expect(sut.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(sut.autoJoinDefaultOrganization).toBe(false);
    expect(sut.trustProxy).toEqual(['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']);
    expect(sut.port).toBe(9000);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '', LOG_LEVEL: '  ' })).toMatchObject({
      port: 8080,
      logLevel: 'info',
    });
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['DATABASE_URL', 'mysql://db/app'],
    ['DATABASE_URL', 'sqlite:'],
    ['DATABASE_POOL_SIZE', '0'],
    ['SQLITE_BUSY_TIMEOUT_MS', 'soon'],
    ['SQLITE_CHECKPOINT_INTERVAL_MS', '-1'],
    ['ADMIN_API_KEYS', 'too-short'],
    ['OPENROUTER_EXTERNAL_USER', 'has space'],
    ['OPENROUTER_EXTERNAL_USER', '_leading_underscore'],
    ['ORGANIZATION_NAME', 'x'.repeat(256)],
    ['AUTO_JOIN_DEFAULT_ORGANIZATION', 'maybe'],
    ['LOG_LEVEL', 'loud'],
    ['BODY_LIMIT_BYTES', '10'],
    ['AUTH_FAILURE_LIMIT', '0'],
    ['AUTH_FAILURE_WINDOW_SECONDS', '1e3'],
    ['ACCESS_CACHE_SIZE', '-5'],
    ['HEALTH_DISK_THRESHOLD', '1.5'],
    ['HEALTH_DISK_THRESHOLD', 'full'],
    ['HEALTH_HEAP_LIMIT_MB', '1'],
    ['HEALTH_RSS_LIMIT_MB', 'lots'],
    ['SHUTDOWN_TIMEOUT_MS', '999999999'],
    ['TRUST_PROXY', '2'],
    ['TRUST_PROXY', 'true'],
    ['TRUST_PROXY', 'yes'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', '127.0.0.1,proxy.local'],
    ['TRUST_PROXY', '::1/129'],
  ])('refuses %s=%j with a message naming the variable', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(name);
  });

  it('reports every bad variable at once', () => {
    const problems = problemsOf({ PORT: 'x', LOG_LEVEL: 'loud', TRUST_PROXY: 'perhaps' });
    expect(problems).toHaveLength(3);
    let message = '';
    try {
      loadConfig({ PORT: 'x', LOG_LEVEL: 'loud', TRUST_PROXY: 'perhaps' });
    } catch (error) {
      message = (error as Error).message;
    }
    for (const name of ['PORT', 'LOG_LEVEL', 'TRUST_PROXY']) {
      expect(message).toContain(name);
    }
  });

  it("checks the SQLite file's disk by default, or the given HEALTH_DISK_PATH", () => {
    expect(loadConfig({ DATABASE_URL: 'sqlite:/app/data/app.db' }).healthDiskPath).toBe(
      '/app/data',
    );
    expect(loadConfig({}).healthDiskPath).toBe('./data');
    expect(loadConfig({ DATABASE_URL: 'postgres://u@db:5432/x' }).healthDiskPath).toBe('.');
    expect(
      loadConfig({ DATABASE_URL: 'sqlite:/app/data/app.db', HEALTH_DISK_PATH: '/mnt/x' })
        .healthDiskPath,
    ).toBe('/mnt/x');
  });

  it.each([
    ['WEBUI_SECRET_KEY', 't0p-s3cr3t', 'publicly known default'],
    ['WEBUI_SECRET_KEY', 'T0P-S3CR3T', 'publicly known default'],
    ['WEBUI_SECRET_KEY', 'a-31-character-secret-012345678', 'at least 32'],
    ['METRICS_TOKEN', 'metrics-token-0123456789abcdef', 'at least 32'],
    ['ADMIN_API_KEYS', 'change-me-to-a-long-random-key', 'publicly known default'],
    ['ADMIN_API_KEYS', `${KEY_A},short-second-key`, 'entry 2'],
    ['ADMIN_API_KEYS', 'a'.repeat(64), 'distinct'],
    ['GATEWAY_API_KEYS', 'gw-too-short', 'GATEWAY_API_KEYS entry 1'],
  ])('refuses the weak secret %s=%j (%s)', (name, value, expected) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(name);
    expect(problems[0]).toContain(expected);
    expect(problems[0]).not.toContain(value);
  });

  it('accepts secrets of 32 characters or more', () => {
    const webui = 'webui-7c1e9a3b5d2f4e6a8c0b1d3e5f';
    const metrics = 'metrics-0a1b2c3d4e5f6a7b8c9d0e1f';
    expect([webui.length, metrics.length]).toEqual([32, 32]);
    const sut = loadConfig({
      WEBUI_SECRET_KEY: webui,
      METRICS_TOKEN: metrics,
      ADMIN_API_KEYS: `${KEY_A},${KEY_B}`,
    });
    expect(sut).toMatchObject({ webuiSecretKey: webui, metricsToken: metrics });
    expect(sut.adminApiKeys).toEqual([KEY_A, KEY_B]);
  });

  it('explains that TRUST_PROXY=true is refused and what to write instead', () => {
    const [problem] = problemsOf({ TRUST_PROXY: 'true' });
    expect(problem).toMatch(/TRUST_PROXY=true .* list the addresses or CIDRs of your proxies/);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toEqual([]);
  });

  it('never echoes an admin API key in its message', () => {
    const problems = problemsOf({ ADMIN_API_KEYS: 'secret123' });
    expect(problems.join(' ')).not.toContain('secret123');
  });
});
