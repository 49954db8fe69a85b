import { World } from './support/factories';
import { expectProblem, expectStatus, listAll } from './support/problems';
import { enc, startTestApp, TestApp } from './support/test-app';

/** Names from several scripts, incl. combining marks, astral emoji and right-to-left text. */
const UNICODE_NAMES = [
  'Zażółć gęślą jaźń',
  '山田太郎 · 株式会社テスト',
  '김민준 (한국어)',
  '🦊 Fox 👩🏽‍💻 🇵🇱',
  'مرحبا بالعالم',
  'שלום עולם',
  'Ame\u0301lie (decomposed é)',
  'Ω≈ç√∫ ∑ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
];

const INJECTIONS = [
  "'; DROP TABLE users; --",
  '" OR 1=1 --',
  '%_\\',
  "Robert'); DELETE FROM organization_members; --",
  '$1 $$ :name ?',
];

/** DESIGN section 5 / issue 2: Unicode intact, injection strings verbatim, encoded ids round-trip. */
describe('text and identifiers', () => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
  });
  afterAll(async () => t.close());

  describe('Unicode names', () => {
    it('stores and returns user, organization and model names byte for byte', async () => {
      for (const [i, name] of UNICODE_NAMES.entries()) {
        const userId = await w.user(`unicode-user-${i}`, { name });
        const orgId = await w.org(`unicode-org-${i}`, { name });
        const modelId = await w.model(`unicode/model-${i}`, { name });
        const user = await t.get(`/api/v1/users/${enc(userId)}`);
        const org = await t.get(`/api/v1/organizations/${orgId}`);
        const model = await t.get(`/api/v1/models/${enc(modelId)}`);
        for (const res of [user, org, model]) {
          expectStatus(res, 200);
          expect(Buffer.from(res.body.name, 'utf8').equals(Buffer.from(name, 'utf8'))).toBe(true);
          expect(String(res.headers['content-type'])).toMatch(/charset=utf-8/i);
        }
        await w.member(orgId, userId);
        await w.grant(orgId, modelId);
        const models = await t.get(`/api/v1/users/${enc(userId)}/models`);
        expect(models.body.data[0].name).toBe(name);
        expect(models.body.data[0].organizations[0].name).toBe(name);
        const members = await t.get(`/api/v1/organizations/${orgId}/members`);
        expect(members.body.data[0].user_name).toBe(name);
      }
    });

    it('uses Unicode ids for users and models too', async () => {
      const userId = await w.user('użytkownik-山田-🦊-שלום');
      const modelId = await w.model('dostawca/model-żółć:测试');
      const org = await w.org();
      await w.member(org, userId);
      await w.grant(org, modelId);
      expect(await w.modelsOf(userId)).toEqual([modelId]);
      expect((await t.get(`/api/v1/users/${enc(userId)}`)).body.id).toBe(userId);
      expect((await w.check(userId, modelId)).allowed).toBe(true);
      const openAi = await t.get('/v1/models', t.tokenFor(userId));
      expect(openAi.body.data[0].id).toBe(modelId);
    });

    it('finds Unicode names by a substring', async () => {
      const id = await w.user('search-pl', { name: 'Grzegorz Brzęczyszczykiewicz' });
      const res = await t.get(`/api/v1/users?search=${enc('brzęczy')}`);
      expectStatus(res, 200);
      expect(res.body.data.map((u: { id: string }) => u.id)).toEqual([id]);
      const cjk = await t.get(`/api/v1/users?search=${enc('太郎')}`);
      expect(cjk.body.data.map((u: { id: string }) => u.id)).toEqual(['unicode-user-1']);
    });

    it('searches case-insensitively beyond ASCII, on SQLite as on PostgreSQL', async () => {
      const id = await w.user('search-upper', {
        name: 'ŻANETA Ćwik-Ωmega',
        email: 'ZK@EXAMPLE.COM',
      });
      for (const q of ['żaneta', 'ĆWIK', 'ćwik-ωMEGA', 'zk@example', 'ZK@example.com']) {
        const res = await t.get(`/api/v1/users?search=${enc(q)}`);
        expect({ q, ids: res.body.data.map((u: { id: string }) => u.id) }).toEqual({
          q,
          ids: [id],
        });
      }
      await w.model('search/ÜBER-Modell', { name: 'Größe' });
      const models = await t.get(`/api/v1/models?search=${enc('über-modell')}`);
      expect(models.body.data.map((m: { id: string }) => m.id)).toEqual(['search/ÜBER-Modell']);
    });

    it('refuses control characters in names with a per-field 400', async () => {
      const res = await t.put('/api/v1/users/ctrl-user', {
        name: 'bad\u0000name',
        email: 'ctrl@example.com',
        role: 'user',
      });
      expectProblem(res, 400, ['name']);
      const tab = await t.post('/api/v1/organizations', {
        id: 'ctrl-org',
        name: 'tab\there',
        external_user: 'ctrl_org',
      });
      expectProblem(tab, 400, ['name']);
    });

    it('accepts every name and email Open WebUI accepts, measured in code points', async () => {
      const cases = [
        { name: '🦊'.repeat(255), email: 'fox@example.com' }, // 510 UTF-16 units, 255 characters
        { name: 'tab\there', email: 'tab@example.com' },
        { name: 'line\u2028separator', email: 'ls@example.com' },
        { name: 'Space Mail', email: 'first last@example.com' },
        { name: '', email: '' }, // Open WebUI's NULL name and email
      ];
      for (const [i, body] of cases.entries()) {
        const res = await t.put(`/api/v1/users/owui-text-${i}`, { ...body, role: 'user' });
        expectStatus(res, 201);
        expect(res.body).toMatchObject(body);
      }
      expectProblem(
        await t.put('/api/v1/users/owui-text-long', {
          name: '🦊'.repeat(256),
          email: 'fox@example.com',
          role: 'user',
        }),
        400,
        ['name'],
      );
      expectProblem(
        await t.put('/api/v1/users/owui-text-at', { name: 'x', email: 'no-at', role: 'user' }),
        400,
        ['email'],
      );
    });

    it('refuses a NUL byte in any text field or query with 400, never 500', async () => {
      expectProblem(
        await t.put('/api/v1/users/nul-user', {
          name: 'Nul',
          email: 'nul\u0000x@example.com',
          role: 'user',
        }),
        400,
        ['email'],
      );
      expectProblem(await t.get(`/api/v1/users?search=${enc('a\u0000b')}`), 400, ['search']);
      expectProblem(await t.get(`/api/v1/models?search=${enc('a\u0000b')}`), 400, ['search']);
      for (const field of ['actor', 'target_id', 'action']) {
        expectProblem(await t.get(`/api/v1/audit?${field}=${enc('x\u0000')}`), 400, [field]);
      }
      expectProblem(await t.get(`/api/v1/access/check?user_id=${enc('u\u0000')}&model_id=m`), 400, [
        'user_id',
      ]);
      expectProblem(await t.get(`/api/v1/users/${enc('u\u0000x')}`), 400, ['user_id']);
      expectProblem(await t.put(`/api/v1/models/${enc('m\u0000x')}`, { name: 'x' }), 400, [
        'model_id',
      ]);
    });
  });

  describe('injection-looking strings', () => {
    it('stores them verbatim as names, ids and emails and leaves every table intact', async () => {
      const org = await w.org('inject-org', { name: INJECTIONS[0] });
      for (const [i, text] of INJECTIONS.entries()) {
        const userId = await w.user(text, { name: text, email: `inj${i}@example.com` });
        const modelId = await w.model(`inj/${text}`, { name: text });
        await w.member(org, userId);
        await w.grant(org, modelId);
        const user = await t.get(`/api/v1/users/${enc(userId)}`);
        expect(user.body).toMatchObject({ id: text, name: text });
        const model = await t.get(`/api/v1/models/${enc(modelId)}`);
        expect(model.body).toMatchObject({ id: `inj/${text}`, name: text });
        expect(await w.modelsOf(userId)).toContain(modelId);
        expect(await w.check(userId, modelId)).toMatchObject({ allowed: true });
      }
      expect((await t.get('/api/v1/organizations/inject-org')).body.name).toBe(INJECTIONS[0]);
      const members = await listAll<{ user_id: string }>(
        t,
        '/api/v1/organizations/inject-org/members',
      );
      expect(members.map((m) => m.user_id).sort()).toEqual([...INJECTIONS].sort());
      const everyModel = INJECTIONS.map((text) => `inj/${text}`).sort();
      for (const text of INJECTIONS) {
        expect(await w.modelsOf(text)).toEqual(everyModel);
      }
      const users = await listAll<{ id: string }>(t, '/api/v1/users');
      expect(users.length).toBeGreaterThan(INJECTIONS.length);
      expectStatus(await t.get('/health', null), 200);
    });

    it('rejects them as organization ids with 400 (slugs only)', async () => {
      for (const text of INJECTIONS) {
        const res = await t.post('/api/v1/organizations', {
          id: text,
          name: 'x',
          external_user: 'x_inj',
        });
        expectProblem(res, 400, ['id']);
      }
      expectProblem(await t.get(`/api/v1/organizations/${enc(INJECTIONS[0])}`), 400, [
        'organization_id',
      ]);
    });

    it('searches with them as plain text: % _ and \\ match only themselves', async () => {
      const percent = await w.user('lit-percent', { name: '100% sure' });
      const underscore = await w.user('lit-underscore', { name: 'snake_case' });
      const backslash = await w.user('lit-backslash', { name: 'back\\slash' });
      await w.user('lit-plain', { name: 'snakeXcase 100 sure backslash' });
      const ids = async (q: string) =>
        (await listAll<{ id: string }>(t, `/api/v1/users?search=${enc(q)}`)).map((u) => u.id);
      expect(await ids('%')).toEqual(expect.arrayContaining([percent, '%_\\']));
      expect(await ids('%')).not.toContain('lit-plain');
      expect(await ids('0% s')).toEqual([percent]);
      expect(await ids('e_c')).toEqual([underscore]);
      expect(await ids('k\\s')).toEqual([backslash]);
      expect(await ids('%_\\')).toEqual(['%_\\']);
      expect(await ids("'; DROP TABLE users; --")).toEqual(["'; DROP TABLE users; --"]);
      expect(await ids('" OR 1=1 --')).toEqual(['" OR 1=1 --']);
      const models = await listAll<{ id: string }>(t, `/api/v1/models?search=${enc('%_')}`);
      expect(models.map((m) => m.id)).toEqual(['inj/%_\\']);
    });

    it('filters the audit log by an injection-looking target without harm', async () => {
      const res = await t.get(`/api/v1/audit?target_id=${enc(INJECTIONS[0])}&target_type=user`);
      expectStatus(res, 200);
      expect(res.body.data.map((e: { action: string }) => e.action)).toEqual(['user.create']);
    });
  });

  describe('URL-encoded ids', () => {
    const MODEL_IDS = [
      'openai/gpt-4o',
      'anthropic/claude-3.5-sonnet:beta',
      'meta-llama/llama-3.1-8b-instruct:free',
      'org@vendor/model name with spaces',
      'weird%2Fliteral/percent',
      'q?and#hash&amp=1/x+y',
      'a/../b/./c',
    ];

    it('round-trips model ids with / : . @ % ? # and spaces through put, get, list, grant and delete', async () => {
      const org = await w.org('enc-org');
      const user = await w.user('enc-user');
      await w.member(org, user);
      for (const id of MODEL_IDS) {
        const put = await t.put(`/api/v1/models/${enc(id)}`, { name: id });
        expectStatus(put, 201, `PUT ${id}`);
        expect(put.body.id).toBe(id);
        const got = await t.get(`/api/v1/models/${enc(id)}`);
        expectStatus(got, 200, `GET ${id}`);
        expect(got.body.id).toBe(id);
        const grant = await t.put(`/api/v1/organizations/${org}/models/${enc(id)}`, {});
        expectStatus(grant, 201, `grant ${id}`);
        expect(grant.body.model_id).toBe(id);
        expect(await w.check(user, id)).toMatchObject({ allowed: true, organization_id: org });
      }
      expect(await w.modelsOf(user)).toEqual([...MODEL_IDS].sort());
      const grants = await listAll<{ model_id: string }>(t, `/api/v1/organizations/${org}/models`);
      expect(grants.map((g) => g.model_id).sort()).toEqual([...MODEL_IDS].sort());
      for (const id of MODEL_IDS) {
        expectStatus(await t.delete(`/api/v1/organizations/${org}/models/${enc(id)}`), 204);
        expectStatus(await t.delete(`/api/v1/models/${enc(id)}`), 204, `DELETE ${id}`);
        expectProblem(await t.get(`/api/v1/models/${enc(id)}`), 404);
      }
      expect(await w.modelsOf(user)).toEqual([]);
    });

    it('accepts the literal encodings clients send (openai%2Fgpt-4o, claude-3.5-sonnet%3Abeta)', async () => {
      const put = await t.put('/api/v1/models/anthropic%2Fclaude-3.5-sonnet%3Abeta', {
        name: 'Sonnet',
      });
      expectStatus(put, 201);
      expect(put.body.id).toBe('anthropic/claude-3.5-sonnet:beta');
      await w.model('openai/gpt-4o');
      expect((await t.get('/api/v1/models/openai%2Fgpt-4o')).body.id).toBe('openai/gpt-4o');
      const check = await t.get(
        '/api/v1/access/check?user_id=enc-user&model_id=anthropic%2Fclaude-3.5-sonnet%3Abeta',
      );
      expect(check.body.model_id).toBe('anthropic/claude-3.5-sonnet:beta');
    });

    it('round-trips user ids with @ : / . and spaces through every user route', async () => {
      const org = await w.org();
      const model = await w.model();
      await w.grant(org, model);
      for (const id of ['ada@example.com', 'ldap:CN=Ada Lovelace/OU=x', 'a.b.c', '../etc/passwd']) {
        const put = await t.put(`/api/v1/users/${enc(id)}`, {
          name: 'Ada',
          email: 'ada@example.com',
          role: 'user',
        });
        expectStatus(put, 201, `PUT user ${id}`);
        expect(put.body.id).toBe(id);
        expect((await t.get(`/api/v1/users/${enc(id)}`)).body.id).toBe(id);
        const member = await t.put(`/api/v1/organizations/${org}/members/${enc(id)}`, {});
        expectStatus(member, 201);
        expect(member.body.user_id).toBe(id);
        expect(await w.modelsOf(id)).toEqual([model]);
        const orgs = await t.get(`/api/v1/users/${enc(id)}/organizations`);
        expect(orgs.body.data[0].organization_id).toBe(org);
        expectStatus(await t.get('/v1/models', t.tokenFor(id)), 200);
        expectStatus(await t.delete(`/api/v1/organizations/${org}/members/${enc(id)}`), 204);
        expectStatus(await t.delete(`/api/v1/users/${enc(id)}`), 204);
        expectProblem(await t.get(`/api/v1/users/${enc(id)}`), 404);
      }
    });

    it('grants and revokes patterns given encoded (openai%2F*), and refuses malformed patterns', async () => {
      const org = await w.org();
      const user = await w.user();
      await w.member(org, user);
      await w.model('patvendor/one');
      const put = await t.put(`/api/v1/organizations/${org}/models/patvendor%2F*`, {});
      expectStatus(put, 201);
      expect(put.body).toMatchObject({ model_id: 'patvendor/*', is_pattern: true, covers: 1 });
      await w.model('patvendor/two:free');
      expect(await w.modelsOf(user)).toEqual(['patvendor/one', 'patvendor/two:free']);
      const again = await t.put(`/api/v1/organizations/${org}/models/${enc('patvendor/*')}`, {});
      expectStatus(again, 200);
      expect(again.body.covers).toBe(2);
      for (const bad of ['*', 'pat*vendor/*', 'patvendor/*x']) {
        expectProblem(await t.put(`/api/v1/organizations/${org}/models/${enc(bad)}`, {}), 400, [
          'model_id',
        ]);
      }
      expectStatus(await t.delete(`/api/v1/organizations/${org}/models/patvendor%2F*`), 204);
      expect(await w.modelsOf(user)).toEqual([]);
      expectProblem(await t.put(`/api/v1/models/${enc('catalog/*')}`, { name: 'x' }), 400, [
        'model_id',
      ]);
    });

    it('answers 400, not 500, for malformed percent-encoding in a path', async () => {
      const res = await t.get('/api/v1/users/%E0%A4%A');
      expect(res.status).toBeLessThan(500);
      expect(res.status).toBeGreaterThanOrEqual(400);
      const lone = await t.get('/api/v1/users/%ED%A0%80');
      expect(lone.status).toBeLessThan(500);
    });
  });
});
