import { ApiCalls, enc, TestApp } from './test-app';

let sequence = 0;
export function uniqueId(prefix: string): string {
  sequence++;
  return `${prefix}-${sequence}-${Math.random().toString(36).slice(2, 8)}`;
}

function expectStatus(
  res: { status: number; text: string },
  allowed: number[],
  what: string,
): void {
  if (!allowed.includes(res.status)) {
    throw new Error(`${what} answered ${res.status}: ${res.text}`);
  }
}

/** Builders of users, models, organizations, memberships and grants, through the API (in process or over HTTP). */
export class World<T extends ApiCalls = TestApp> {
  constructor(readonly t: T) {}

  async user(
    id = uniqueId('user'),
    fields: Partial<{ name: string; email: string; role: 'pending' | 'user' | 'admin' }> = {},
  ): Promise<string> {
    const res = await this.t.put(`/api/v1/users/${enc(id)}`, {
      name: fields.name ?? `User ${id}`,
      email: fields.email ?? `${id.replace(/[^A-Za-z0-9]/g, '')}@example.com`,
      role: fields.role ?? 'user',
    });
    expectStatus(res, [200, 201], `PUT user ${id}`);
    return id;
  }

  async model(
    id = uniqueId('provider/model'),
    fields: Partial<{ name: string; is_active: boolean; base_model_id: string | null }> = {},
  ): Promise<string> {
    const res = await this.t.put(`/api/v1/models/${enc(id)}`, {
      name: fields.name ?? `Model ${id}`,
      ...fields,
    });
    expectStatus(res, [200, 201], `PUT model ${id}`);
    return id;
  }

  async org(
    id = uniqueId('org'),
    fields: Partial<{
      name: string;
      external_user: string;
      auto_grant_new_models: boolean;
      email_domains: string[];
    }> = {},
  ): Promise<string> {
    const res = await this.t.post('/api/v1/organizations', {
      id,
      name: fields.name ?? `Org ${id}`,
      external_user: fields.external_user ?? `ext_${id.replace(/[^A-Za-z0-9]/g, '_')}`,
      ...(fields.auto_grant_new_models === undefined
        ? {}
        : { auto_grant_new_models: fields.auto_grant_new_models }),
      ...(fields.email_domains === undefined ? {} : { email_domains: fields.email_domains }),
    });
    expectStatus(res, [201], `POST organization ${id}`);
    return id;
  }

  async member(
    orgId: string,
    userId: string,
    fields: { role?: 'member' | 'admin'; is_active?: boolean } = {},
  ): Promise<void> {
    const res = await this.t.put(
      `/api/v1/organizations/${enc(orgId)}/members/${enc(userId)}`,
      fields,
    );
    expectStatus(res, [200, 201], `PUT member ${orgId}/${userId}`);
  }

  async grant(orgId: string, modelId: string, isActive = true): Promise<void> {
    const res = await this.t.put(`/api/v1/organizations/${enc(orgId)}/models/${enc(modelId)}`, {
      is_active: isActive,
    });
    expectStatus(res, [200, 201], `PUT grant ${orgId}/${modelId}`);
  }

  async emailDomains(orgId: string, domains: string[]): Promise<void> {
    const res = await this.t.patch(`/api/v1/organizations/${enc(orgId)}`, {
      email_domains: domains,
    });
    expectStatus(res, [200], `PATCH organization ${orgId} email_domains`);
  }

  async archive(orgId: string, archived = true): Promise<void> {
    const res = await this.t.patch(`/api/v1/organizations/${enc(orgId)}`, { is_active: !archived });
    expectStatus(res, [200], `PATCH organization ${orgId}`);
  }

  async setModelActive(modelId: string, isActive: boolean): Promise<void> {
    const current = await this.t.get(`/api/v1/models/${enc(modelId)}`);
    const res = await this.t.put(`/api/v1/models/${enc(modelId)}`, {
      name: current.body.name,
      base_model_id: current.body.base_model_id,
      is_active: isActive,
    });
    expectStatus(res, [200], `PUT model ${modelId}`);
  }

  async modelsOf(userId: string): Promise<string[]> {
    const res = await this.t.get(`/api/v1/users/${enc(userId)}/models`);
    expectStatus(res, [200], `GET models of ${userId}`);
    return (res.body.data as { id: string }[]).map((m) => m.id);
  }

  async check(
    userId: string,
    modelId: string,
  ): Promise<{
    allowed: boolean;
    reason: string;
    organization_id: string | null;
    openrouter_user: string | null;
  }> {
    const res = await this.t.get(
      `/api/v1/access/check?user_id=${enc(userId)}&model_id=${enc(modelId)}`,
    );
    expectStatus(res, [200], `GET check ${userId} ${modelId}`);
    return res.body;
  }
}
