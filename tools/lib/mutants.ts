/**
 * Small deliberate bugs for `npm run mutate`: each replaces one exact piece of text in one
 * source file (it must occur exactly once, or the mutant is reported stale), and names the
 * specs that should catch it. A mutant that no spec catches shows a hole in the tests.
 */
export interface Mutant {
  id: string;
  /** What the bug does, in words. */
  description: string;
  /** Path from the repository root. */
  file: string;
  find: string;
  replace: string;
  /** Spec files (under test/) run against the mutant. */
  specs: string[];
}

const RULE_SPECS = [
  'access-rule.e2e-spec.ts',
  'property-access.e2e-spec.ts',
  'api-list-equals-check.e2e-spec.ts',
];
const AUTHZ_SPECS = ['authz-matrix.e2e-spec.ts', 'api-isolation.e2e-spec.ts'];
const CACHE_SPECS = [
  'perf-write-visibility.e2e-spec.ts',
  'cache-narrowing.e2e-spec.ts',
  'property-access.e2e-spec.ts',
];

const RULE = 'src/model-access/access-rule.ts';
const GUARD = 'src/auth/auth.guard.ts';

export const MUTANTS: readonly Mutant[] = [
  {
    id: 'pattern-check-cut-short',
    description: 'a pattern grant checks one character too few (openai/* also covers openaix/...)',
    file: RULE,
    find: 'prefix: row.modelId.slice(0, -1)',
    replace: 'prefix: row.modelId.slice(0, -2)',
    specs: RULE_SPECS,
  },
  {
    id: 'pattern-list-cut-short',
    description: 'the catalog lookup of a pattern drops one character too many (listings)',
    file: RULE,
    find: 'return this.withPrefix(grantModelId.slice(0, -1));',
    replace: 'return this.withPrefix(grantModelId.slice(0, -2));',
    specs: RULE_SPECS,
  },
  {
    id: 'grant-inactive-never',
    description: 'the reason grant_inactive is never given (falls through to no_grant)',
    file: RULE,
    find: "return 'grant_inactive';",
    replace: "return 'no_grant';",
    specs: RULE_SPECS,
  },
  {
    id: 'granting-membership-ignored',
    description: 'a suspended membership where the model is granted no longer explains a refusal',
    file: RULE,
    find: 'granting.some((m) => !m.isActive)',
    replace: 'false',
    specs: RULE_SPECS,
  },
  {
    id: 'archived-organization-usable',
    description: 'a member of an archived organization may use its grants',
    file: RULE,
    find: '.filter((m) => !pending && m.isActive && m.organizationActive)',
    replace: '.filter((m) => !pending && m.isActive)',
    specs: RULE_SPECS,
  },
  {
    id: 'suspended-membership-usable',
    description: "a suspended member may use the organization's grants",
    file: RULE,
    find: '.filter((m) => !pending && m.isActive && m.organizationActive)',
    replace: '.filter((m) => !pending && m.organizationActive)',
    specs: RULE_SPECS,
  },
  {
    id: 'pending-user-usable',
    description: 'a pending user (awaiting approval) may use the models of their memberships',
    file: RULE,
    find: '.filter((m) => !pending && m.isActive && m.organizationActive)',
    replace: '.filter((m) => m.isActive && m.organizationActive)',
    specs: RULE_SPECS,
  },
  {
    id: 'inactive-exact-grant-counts',
    description: 'an inactive exact grant allows the model',
    file: RULE,
    find: 'this.exact.set(row.modelId, row.isActive || this.exact.get(row.modelId) === true);',
    replace: 'this.exact.set(row.modelId, true);',
    specs: RULE_SPECS,
  },
  {
    id: 'inactive-pattern-counts',
    description: 'an inactive pattern grant allows the models it covers (check only)',
    file: RULE,
    find: 'if (p.isActive && modelId.startsWith(p.prefix)) {',
    replace: 'if (modelId.startsWith(p.prefix)) {',
    specs: RULE_SPECS,
  },
  {
    id: 'inactive-model-checks-allowed',
    description: 'the check allows an inactive catalog model',
    file: RULE,
    find: 'if (model && model.isActive) {',
    replace: 'if (model) {',
    specs: RULE_SPECS,
  },
  {
    id: 'inactive-model-listed',
    description: 'listings include inactive catalog models',
    file: RULE,
    find: 'if (model.isActive) {',
    replace: 'if (model.id !== "") {',
    specs: RULE_SPECS,
  },
  {
    id: 'openrouter-suffix-short',
    description: 'the OpenRouter user value carries 7 hex digits instead of 8',
    file: RULE,
    find: "digest('hex').slice(0, 8)",
    replace: "digest('hex').slice(0, 7)",
    specs: RULE_SPECS,
  },
  {
    id: 'granting-organization-order',
    description: 'the organization named by a check is the last by id, not the first',
    file: RULE,
    find: '.sort((a, b) => compareCodeUnits(a.organizationId, b.organizationId));',
    replace: '.sort((a, b) => compareCodeUnits(b.organizationId, a.organizationId));',
    specs: RULE_SPECS,
  },
  {
    id: 'suspended-member-sees-organization',
    description: 'a suspended member still sees the organization (404 becomes 403 or 200)',
    file: GUARD,
    find: 'm.organizationId === orgId && m.isActive',
    replace: 'm.organizationId === orgId',
    specs: AUTHZ_SPECS,
  },
  {
    id: 'suspended-admin-administers',
    description: 'a suspended organization admin keeps the admin powers',
    file: 'src/auth/principal.ts',
    find: ".filter((m) => m.isActive && m.role === 'admin')",
    replace: ".filter((m) => m.role === 'admin')",
    specs: AUTHZ_SPECS,
  },
  {
    id: 'member-acts-as-org-admin',
    description: 'any active member may call the organization-admin routes',
    file: GUARD,
    find: 'if (administered.includes(orgId)) {',
    replace: 'if (canSee(principal, orgId)) {',
    specs: AUTHZ_SPECS,
  },
  {
    id: 'api-key-on-user-routes',
    description: 'an API key is let through on routes that answer for a web UI user',
    file: GUARD,
    find: "if (principal.kind !== 'user') {",
    replace: "if (principal.kind === 'user' && principal.kind !== 'user') {",
    specs: AUTHZ_SPECS,
  },
  {
    id: 'outsider-told-organization-exists',
    description: 'an outsider gets 403 instead of 404 on a site-admin route of an organization',
    file: GUARD,
    find: 'if (orgId !== undefined && !canSee(principal, orgId)) {',
    replace: 'if (orgId === "" && !canSee(principal, orgId)) {',
    specs: AUTHZ_SPECS,
  },
  {
    id: 'database-errors-recorded-as-success',
    description: 'a failed database operation is recorded with outcome="success" in /metrics',
    file: 'src/database/database.service.ts',
    find: "let outcome: 'success' | 'error' = 'error';",
    replace: "let outcome: 'success' | 'error' = 'success';",
    specs: ['ops-metrics.e2e-spec.ts'],
  },
  {
    id: 'cache-keeps-narrowed-keys',
    description:
      'a membership or grant write no longer empties the cached rows of the users or organizations it names',
    file: 'src/model-access/access-cache.service.ts',
    find: 'keys.forEach((key) => map.delete(key));',
    replace: 'void keys;',
    specs: CACHE_SPECS,
  },
  {
    id: 'shutdown-without-draining',
    description: 'SIGTERM exits 0 at once instead of draining the requests in flight',
    file: 'src/main.ts',
    find: 'app.close().then(',
    replace: 'Promise.resolve().then(',
    specs: ['shutdown.e2e-spec.ts'],
  },
];
