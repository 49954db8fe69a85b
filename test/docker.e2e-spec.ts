import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_VARIABLES } from '../src/config/load-config';

const ROOT = join(__dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  profiles?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  env_file?: { path: string; required: boolean }[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[]; interval: string; retries: number };
  deploy?: { replicas?: number };
  networks?: string[] | Record<string, { ipv4_address?: string }>;
}

interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

describe('docker/Dockerfile', () => {
  const steps = instructions(read('docker/Dockerfile'));
  const stages = steps.filter((s) => s.op === 'FROM');
  const runtimeStart = steps.findIndex((s) => s === stages[stages.length - 1]);
  const runtime = steps.slice(runtimeStart);
  const build = steps.slice(0, runtimeStart);

  it('builds in one stage and runs in another, both on Debian slim Node 24 (the current LTS)', () => {
    expect(stages.map((s) => s.args)).toEqual([
      '${NODE_IMAGE} AS build',
      '${NODE_IMAGE} AS runtime',
    ]);
    expect(steps.find((s) => s.op === 'ARG')?.args).toBe('NODE_IMAGE=node:24-bookworm-slim');
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines;
    // process.loadEnvFile (the .env loading) needs 20.12
    expect(engines.node).toBe('>=20.12');
  });

  it('installs the native toolchain, installs from the lockfile, builds and prunes dev dependencies', () => {
    const runs = build.filter((s) => s.op === 'RUN').map((s) => s.args);
    expect(runs.join('\n')).toMatch(/apt-get install .*python3 make g\+\+/);
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    const buildStep = runs.find((r) => r.includes('npm run build'));
    expect(buildStep).toMatch(/npm prune --omit=dev/);
  });

  it('copies only the built output and production node_modules into the runtime stage', () => {
    const copies = runtime.filter((s) => s.op === 'COPY').map((s) => s.args);
    expect(copies).toContain('--from=build /app/node_modules ./node_modules');
    expect(copies).toContain('--from=build /app/dist ./dist');
    expect(copies.some((c) => /\bsrc\b/.test(c))).toBe(false);
    expect(runtime.some((s) => s.op === 'RUN' && /npm (ci|install)/.test(s.args))).toBe(false);
  });

  it('runs as a non-root user with a data volume, port 8080 and the compiled entry point, as npm start does', () => {
    const user = runtime.filter((s) => s.op === 'USER').map((s) => s.args);
    expect(user).toHaveLength(1);
    expect(user[0]).not.toMatch(/^(root|0)(:|$)/);
    expect(runtime.find((s) => s.op === 'VOLUME')?.args).toBe('["/app/data"]');
    expect(runtime.find((s) => s.op === 'EXPOSE')?.args).toBe('8080');
    // the image starts the service as `npm start` does: same node flags
    const start = (JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts
      .start;
    expect(start).toMatch(/^node (--[\w-]+ )*dist\/src\/main\.js$/);
    expect(runtime.find((s) => s.op === 'CMD')?.args).toBe(
      JSON.stringify(start.split(' ')).replace(/,/g, ', '),
    );
    const env = runtime.find((s) => s.op === 'ENV')?.args ?? '';
    expect(env).toContain('DATABASE_URL=sqlite:/app/data/app.db');
    expect(env).toContain('NODE_ENV=production');
  });

  it('checks /health with node (the slim image has no curl)', () => {
    const check = runtime.find((s) => s.op === 'HEALTHCHECK')?.args ?? '';
    expect(check).toMatch(/CMD \["node", "-e", ".*\/health/);
    expect(check).not.toMatch(/curl|wget/);
  });
});

describe('docker/docker-compose.yml', () => {
  const compose = parse(read('docker/docker-compose.yml'), { merge: true }) as Compose;
  const { app, postgres } = compose.services;
  const appPostgres = compose.services['app-postgres'];

  it('runs `app` on SQLite in a named volume (profile sqlite), with a /health healthcheck', () => {
    expect(app.profiles).toEqual(['sqlite']);
    expect(app.build).toEqual({ context: '..', dockerfile: 'docker/Dockerfile' });
    expect(app.environment?.DATABASE_URL).toBe('sqlite:/app/data/app.db');
    expect(app.volumes).toEqual(['app-data:/app/data']);
    expect(compose.volumes).toHaveProperty('app-data');
    expect(app.healthcheck?.test.join(' ')).toContain('/health');
    expect(app.ports).toEqual(['${APP_PORT:-8080}:8080']);
  });

  it('runs PostgreSQL only in the postgres profile, healthy once pg_isready answers', () => {
    expect(postgres.profiles).toEqual(['postgres', 'replicas']);
    expect(postgres.image).toMatch(/^postgres:16/);
    expect(postgres.healthcheck?.test.join(' ')).toContain('pg_isready');
    expect(postgres.volumes).toEqual(['postgres-data:/var/lib/postgresql/data']);
    expect(compose.volumes).toHaveProperty('postgres-data');
  });

  it('starts app-postgres after PostgreSQL is healthy, pointed at it', () => {
    expect(appPostgres.profiles).toEqual(['postgres']);
    expect(appPostgres.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(appPostgres.environment?.DATABASE_URL).toMatch(
      /^postgres:\/\/model_access:.+@postgres:5432\/model_access$/,
    );
    expect(appPostgres.healthcheck).toEqual(app.healthcheck);
    expect(appPostgres.build).toEqual(app.build);
  });

  it('runs several replicas on the same PostgreSQL behind a load balancer (profile replicas)', () => {
    const replica = compose.services['app-replica'];
    const proxy = compose.services.proxy;
    expect(replica.profiles).toEqual(['replicas']);
    expect(replica.deploy?.replicas).toBeGreaterThanOrEqual(2);
    expect(replica.ports).toBeUndefined();
    expect(replica.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
    });
    expect(replica.environment?.DATABASE_URL).toBe(appPostgres.environment?.DATABASE_URL);
    // rate limits are counted once for all replicas, in the profile's Redis
    expect(replica.environment?.REDIS_URL).toBe('redis://redis:6379');
    expect(compose.services.redis.profiles).toEqual(['replicas']);
    // the replicas trust exactly nginx's fixed address, never every hop
    const proxyAddress = (proxy.networks as Record<string, { ipv4_address?: string }>)[
      'replica-edge'
    ]?.ipv4_address;
    expect(proxyAddress).toBe('${PROXY_ADDRESS:-172.31.254.2}');
    expect(replica.environment?.TRUST_PROXY).toBe(proxyAddress);
    expect(replica.networks).toEqual(['default', 'replica-edge']);
    expect(replica.healthcheck).toEqual(app.healthcheck);
    expect(proxy.profiles).toEqual(['replicas']);
    expect(proxy.depends_on).toEqual({ 'app-replica': { condition: 'service_healthy' } });
    expect(proxy.healthcheck?.test.join(' ')).toContain('/health');
    const mounted = (proxy.volumes ?? [])[0]?.split(':')[0];
    expect(mounted).toBe('./nginx.conf');
    const nginx = read('docker/nginx.conf');
    expect(nginx).toMatch(/server app-replica:8080 resolve/);
    expect(nginx).toMatch(/proxy_pass http:\/\/model_access;/);
    // nginx overwrites the client's X-Forwarded-For with the address it saw
    expect(nginx).toMatch(/proxy_set_header X-Forwarded-For \$remote_addr;/);
  });

  it('starts only the services of the profile named: replicas never start the SQLite app', () => {
    const started = (profile: string) =>
      Object.entries(compose.services)
        .filter(
          ([, service]) => service.profiles === undefined || service.profiles.includes(profile),
        )
        .map(([name]) => name)
        .sort();
    const withoutProfile = Object.entries(compose.services)
      .filter(([, service]) => (service.profiles ?? []).length === 0)
      .map(([name]) => name);
    expect(withoutProfile).toEqual([]);
    expect(started('sqlite')).toEqual(['app']);
    expect(started('postgres')).toEqual(['app-postgres', 'postgres']);
    expect(started('replicas')).toEqual(['app-replica', 'postgres', 'proxy', 'redis']);
  });

  it('never falls back to a known PostgreSQL password, and every documented command interpolates from the root .env', () => {
    const text = read('docker/docker-compose.yml');
    expect(text).toMatch(/\$\{POSTGRES_PASSWORD:-\}/);
    expect(text).not.toMatch(/\$\{POSTGRES_PASSWORD(:?-)[^}]/);
    expect(postgres.environment?.POSTGRES_PASSWORD).toBe('${POSTGRES_PASSWORD:-}');
    const commands = ['docker/docker-compose.yml', 'PRODUCTION_DEPLOYMENT_GUIDE.md', 'README.md']
      .flatMap((file) => read(file).split('\n'))
      .filter((line) => /docker compose .*-f docker\/docker-compose\.yml/.test(line));
    expect(commands.length).toBeGreaterThan(5);
    expect(commands.filter((line) => !line.includes('docker compose --env-file .env -f'))).toEqual(
      [],
    );
  });

  it('sets only variables the service knows, and reads secrets from ../.env', () => {
    const known = new Set(CONFIG_VARIABLES.map((v) => v.name));
    for (const service of [app, appPostgres, compose.services['app-replica']]) {
      for (const name of Object.keys(service.environment ?? {})) {
        expect(known).toContain(name);
      }
      expect(service.env_file).toEqual([{ path: '../.env', required: false }]);
    }
  });
});

describe('docker-compose.yml: Open WebUI in front of the gateway (profile openwebui)', () => {
  const compose = parse(read('docker/docker-compose.yml')) as Compose;
  const webui = compose.services['open-webui'];

  it('points Open WebUI at the service with a gateway key and forwarded user headers', () => {
    expect(webui.profiles).toEqual(['openwebui']);
    expect(webui.image).toMatch(/^ghcr\.io\/open-webui\/open-webui:/);
    expect(webui.depends_on).toEqual({ app: { condition: 'service_healthy' } });
    expect(webui.environment).toMatchObject({
      OPENAI_API_BASE_URL: 'http://app:8080/v1',
      ENABLE_FORWARD_USER_INFO_HEADERS: 'true',
    });
    expect(webui.environment?.OPENAI_API_KEY).toMatch(/^\$\{GATEWAY_API_KEY:\?/);
    // the same secret on both sides: the service accepts Open WebUI's session tokens
    expect(webui.environment?.WEBUI_SECRET_KEY).toMatch(/^\$\{WEBUI_SECRET_KEY:\?/);
    expect(webui.volumes?.[0]).toMatch(/^open-webui-data:/);
    expect(Object.keys(compose.volumes)).toContain('open-webui-data');
  });

  it('keeps the gateway variables it relies on in the service configuration', () => {
    const names = CONFIG_VARIABLES.map((v) => v.name);
    for (const name of ['GATEWAY_API_KEYS', 'OPENROUTER_API_KEY', 'OPENROUTER_BASE_URL']) {
      expect(names).toContain(name);
    }
    expect(
      CONFIG_VARIABLES.find((v) => v.name === 'FORWARD_USER_INFO_HEADER_USER_ID')?.default,
    ).toBe('X-OpenWebUI-User-Id');
  });
});

describe('.env.example', () => {
  const example = read('.env.example');
  const assigned = [...example.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => ({
    name: m[1],
    value: m[2],
  }));

  it('lists every variable of CONFIG_VARIABLES with its default', () => {
    for (const variable of CONFIG_VARIABLES) {
      expect(assigned).toContainEqual({ name: variable.name, value: variable.default });
    }
  });

  it('copied to .env, never overrides what the image decides (database and disk inside /app/data)', () => {
    const env =
      instructions(read('docker/Dockerfile'))
        .filter((s) => s.op === 'ENV')
        .pop()?.args ?? '';
    const image = new Map([...env.matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2]] as const));
    expect(image.get('DATABASE_URL')).toBe('sqlite:/app/data/app.db');
    // The image's WORKDIR is /app: a relative path in .env resolves against it.
    const inImage = (value: string) =>
      value.replace(/^(sqlite:)?\.\//, '$1/app/').replace(/^\.$/, '/app');
    for (const { name, value } of assigned) {
      if (image.has(name) && value !== '') {
        expect([name, inImage(value)]).toEqual([name, image.get(name)]);
      }
    }
    expect(assigned).toContainEqual({ name: 'HEALTH_DISK_PATH', value: '' });
  });

  it('lists nothing the service does not read', () => {
    const known = new Set(CONFIG_VARIABLES.map((v) => v.name));
    expect(assigned.map((a) => a.name).filter((name) => !known.has(name))).toEqual([]);
  });

  it('covers every variable loadConfig reads', () => {
    const source = read('src/config/load-config.ts');
    const read_ = [...source.matchAll(/\br\.(?:raw|int|bool|list|fraction)\('([A-Z0-9_]+)'/g)];
    expect(read_.length).toBeGreaterThan(10);
    const listed = new Set(assigned.map((a) => a.name));
    for (const [, name] of read_) {
      expect(listed).toContain(name);
    }
  });
});

describe('.dockerignore', () => {
  const ignored = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('keeps local state, secrets and dependencies out of the build context', () => {
    for (const entry of ['node_modules', 'dist', 'data', '.git', '.env']) {
      expect(ignored).toContain(entry);
    }
    expect(ignored).toContain('!.env.example');
  });
});
