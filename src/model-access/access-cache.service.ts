import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager, EntitySubscriberInterface, QueryRunner } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { DatabaseService, DataChange } from '../database/database.service';
import { UserEntity } from '../users/entities/user.entity';
import {
  Catalog,
  CatalogModel,
  GrantRow,
  MembershipRow,
  OrganizationGrants,
  UserAccess,
} from './access-rule';
import {
  CATALOG_SQL,
  GRANTS_OF_ORGANIZATIONS,
  hotSql,
  MEMBERSHIPS_OF_USER,
  toBool,
  USER_BY_ID,
} from './hot-queries';

export interface KnownUser {
  id: string;
  name: string;
  email: string;
  role: UserEntity['role'];
}

/** A user as the rule sees them, or null for a user id that does not exist. */
export interface UserView {
  user: KnownUser | null;
  access: UserAccess;
}

/** A user's own rows: who they are and their memberships (with their organizations). */
interface UserRows {
  user: KnownUser | null;
  memberships: MembershipRow[];
}

/**
 * What a write can make stale. `users` holds users and memberships (with the
 * organizations' name, state and external user); `grants` the organizations' grants;
 * `catalog` the models. Views and serialized answers depend on all three.
 */
type Scope = 'users' | 'grants' | 'catalog';
const ALL_SCOPES: readonly Scope[] = ['users', 'grants', 'catalog'];

/** Scopes each table's writes make stale (deletes cascade from users and organizations). */
const TABLE_SCOPES: Record<string, readonly Scope[]> = {
  users: ['users'],
  organization_members: ['users'],
  organizations: ['users', 'grants'],
  organization_models: ['grants'],
  models: ALL_SCOPES,
  audit_events: [],
  usage_events: [],
};

const WRITE_STATEMENT =
  /^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+["`]?(\w+)["`]?/i;
const READ_STATEMENT =
  /^\s*(?:SELECT|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START|SET|SHOW|EXPLAIN|LISTEN|UNLISTEN)\b/i;

/** The scopes a SQL statement can make stale; every scope for statements it cannot read. */
export function scopesWrittenBy(sql: string): readonly Scope[] {
  if (READ_STATEMENT.test(sql)) {
    return [];
  }
  const table = writtenTable(sql);
  return table !== undefined && table in TABLE_SCOPES ? TABLE_SCOPES[table] : ALL_SCOPES;
}

/** The table an INSERT, UPDATE or DELETE writes, lower-cased; undefined for anything else. */
function writtenTable(sql: string): string | undefined {
  return WRITE_STATEMENT.exec(sql)?.[1].toLowerCase();
}

/** Keys a write transaction declares it changes (see AccessCacheService.narrowWritesTo). */
export interface Narrowing {
  users?: readonly string[];
  organizations?: readonly string[];
}

/** Most bytes of serialized answers (model lists) kept; the oldest go first. */
const RESPONSE_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * Computes users' access from the database and keeps the answers in memory, in layers:
 * the catalog, each organization's grants (shared by its members), each user's rows,
 * and on top the composed views and serialized lists.
 *
 * Correctness first: an answer computed while a write was in flight (or whose inputs
 * changed meanwhile) is served but never stored. When a local write ends, every layer a
 * statement of that write could have touched is emptied before the write is acknowledged
 * (the tables are read from the SQL itself, so raw SQL and cascades are covered); changes
 * from elsewhere (other replicas) empty everything. So the read after an acknowledged write
 * always sees it, while a membership write no longer throws away the catalog and grants.
 */
@Injectable()
export class AccessCacheService {
  private catalog: Catalog | null = null;
  private readonly organizations = new Map<string, OrganizationGrants>();
  private readonly userRows = new Map<string, UserRows>();
  private readonly views = new Map<string, UserView>();
  private readonly responses = new Map<string, string>();
  private responseBytes = 0;
  /** Increases when a write ends or a change arrives from elsewhere. */
  private generation = 0;
  /** Scopes written by statements since the last write ended. */
  private readonly touched = new Set<Scope>();
  /** Users whose memberships, and organizations whose grants, narrowed writes changed. */
  private readonly touchedUsers = new Set<string>();
  private readonly touchedOrganizations = new Set<string>();
  /** Transactions that declared the only keys their membership / grant statements change. */
  private readonly narrowed = new WeakMap<QueryRunner, Narrowing>();

  constructor(
    private readonly db: DatabaseService,
    private readonly config: AppConfig,
  ) {
    db.onChange((change) => this.onChange(change));
    this.watchStatements(db.dataSource);
  }

  private get enabled(): boolean {
    return this.config.accessCacheSize > 0;
  }

  /** Empties every layer. */
  clear(): void {
    this.catalog = null;
    this.organizations.clear();
    this.userRows.clear();
    this.dropDerived();
  }

  get size(): number {
    return this.views.size;
  }

  private dropDerived(): void {
    this.views.clear();
    this.responses.clear();
    this.responseBytes = 0;
  }

  /**
   * Declares, inside a write transaction, the only keys its statements on
   * organization_members (users) and organization_models (organizations) change, so that
   * the write's end empties those users' rows and those organizations' grants instead of
   * the whole layer. Statements on any other table, or in transactions that declare
   * nothing, still empty whole layers.
   */
  narrowWritesTo(tx: EntityManager, keys: Narrowing): void {
    if (tx.queryRunner) {
      this.narrowed.set(tx.queryRunner, keys);
    }
  }

  private onChange(change: DataChange): void {
    if (change === 'write-start') {
      // Cached answers still describe committed data until this write ends (see storable).
      return;
    }
    this.generation++;
    if (change === 'external') {
      this.touched.clear();
      this.touchedUsers.clear();
      this.touchedOrganizations.clear();
      this.clear();
      return;
    }
    for (const userId of this.touchedUsers) {
      this.userRows.delete(userId);
    }
    for (const organizationId of this.touchedOrganizations) {
      this.organizations.delete(organizationId);
    }
    for (const scope of this.touched) {
      if (scope === 'catalog') {
        this.catalog = null;
      } else if (scope === 'grants') {
        this.organizations.clear();
      } else {
        this.userRows.clear();
      }
    }
    if (this.touched.size > 0 || this.touchedUsers.size > 0 || this.touchedOrganizations.size > 0) {
      // Views and serialized lists are rebuilt from the layers without a query.
      this.dropDerived();
    }
    // Statements of writes still open stay recorded: with concurrent transactions
    // (PostgreSQL) a scope touched by one that commits later must be emptied again at its
    // own end, or an answer read between the two ends would outlive that commit.
    if (this.db.activeWrites === 0) {
      this.touched.clear();
      this.touchedUsers.clear();
      this.touchedOrganizations.clear();
    }
  }

  /** Records which layers each write statement (any statement through the data source) touches. */
  private watchStatements(dataSource: DataSource): void {
    const subscriber: EntitySubscriberInterface = {
      beforeQuery: (event) => {
        const scopes = scopesWrittenBy(event.query);
        if (scopes.length === 0) {
          return;
        }
        const keys = event.queryRunner ? this.narrowed.get(event.queryRunner) : undefined;
        const table = writtenTable(event.query);
        if (keys?.users && table === 'organization_members') {
          keys.users.forEach((id) => this.touchedUsers.add(id));
          return;
        }
        if (keys?.organizations && table === 'organization_models') {
          keys.organizations.forEach((id) => this.touchedOrganizations.add(id));
          return;
        }
        for (const scope of scopes) {
          this.touched.add(scope);
        }
      },
    };
    dataSource.subscribers.push(subscriber);
  }

  /**
   * True when an answer computed from reads made since `generation` may be stored: no
   * write ended (committed or rolled back) and no outside change arrived meanwhile, and
   * other replicas' changes are observable. A write still in flight does not forbid it:
   * whatever such an answer read of that write (SQLite readers share its connection), the
   * write's end empties the layers it touched after the answer is stored, and bumps the
   * generation so an answer that straddles the end is not stored at all.
   */
  private storable(generation: number): boolean {
    return this.enabled && generation === this.generation && this.db.changesObservable;
  }

  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    if (map.size >= this.config.accessCacheSize) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) {
        map.delete(oldest);
      }
    }
    map.set(key, value);
  }

  async view(userId: string): Promise<UserView> {
    const cached = this.views.get(userId);
    if (cached) {
      return cached;
    }
    const version = this.generation;
    const fresh =
      this.composeFromLayers(userId) ?? (await this.db.read((m) => this.load(m, userId, version)));
    if (this.storable(version)) {
      this.remember(this.views, userId, fresh);
    }
    return fresh;
  }

  /**
   * A serialized answer for a user (e.g. the JSON of their model list), built from their
   * view once and kept until the data it depends on changes.
   */
  async serialized(
    kind: string,
    userId: string,
    build: (view: UserView) => string,
  ): Promise<string> {
    const key = `${kind}\u0000${userId}`;
    const cached = this.responses.get(key);
    if (cached !== undefined) {
      return cached;
    }
    const version = this.generation;
    const text = build(await this.view(userId));
    if (this.storable(version) && text.length <= RESPONSE_CACHE_BYTES / 16) {
      this.responseBytes += text.length - (this.responses.get(key)?.length ?? 0);
      this.responses.set(key, text);
      for (const [oldKey, old] of this.responses) {
        if (this.responseBytes <= RESPONSE_CACHE_BYTES) {
          break;
        }
        this.responses.delete(oldKey);
        this.responseBytes -= old.length;
      }
    }
    return text;
  }

  async getCatalog(manager: EntityManager): Promise<Catalog> {
    if (this.catalog) {
      return this.catalog;
    }
    const version = this.generation;
    const rows = await manager.query<Record<string, unknown>[]>(CATALOG_SQL);
    const catalog = new Catalog(
      rows.map((r): CatalogModel => ({
        id: String(r.id),
        name: String(r.name),
        baseModelId: r.base_model_id === null ? null : String(r.base_model_id),
        isActive: toBool(r.is_active),
        createdAt: String(r.created_at),
      })),
    );
    if (this.storable(version)) {
      this.catalog = catalog;
    }
    return catalog;
  }

  /** Reads one user's rows and applies the rule. Usable inside a transaction; stores nothing. */
  async compute(manager: EntityManager, userId: string): Promise<UserView> {
    const rows = await this.readUserRows(manager, userId);
    const catalog = await this.getCatalog(manager);
    const organizations = await this.readGrants(
      manager,
      rows.memberships.map((m) => m.organizationId),
      catalog,
    );
    return this.compose(userId, rows, catalog, organizations);
  }

  /** Like compute, but reuses and fills the cached layers when nothing changed meanwhile. */
  private async load(manager: EntityManager, userId: string, version: number): Promise<UserView> {
    const rows = this.userRows.get(userId) ?? (await this.readUserRows(manager, userId));
    if (this.storable(version)) {
      this.remember(this.userRows, userId, rows);
    }
    const catalog = await this.getCatalog(manager);
    const missing = rows.memberships
      .map((m) => m.organizationId)
      .filter((id) => !this.organizations.has(id));
    const loaded = await this.readGrants(manager, missing, catalog);
    if (this.storable(version)) {
      for (const [id, grants] of loaded) {
        this.organizations.set(id, grants);
      }
    }
    const organizations = new Map<string, OrganizationGrants>();
    for (const m of rows.memberships) {
      const grants = loaded.get(m.organizationId) ?? this.organizations.get(m.organizationId);
      if (grants) {
        organizations.set(m.organizationId, grants);
      }
    }
    return this.compose(userId, rows, catalog, organizations);
  }

  /** The view from the cached layers alone, or null when one of them must be read. */
  private composeFromLayers(userId: string): UserView | null {
    const rows = this.userRows.get(userId);
    if (!rows || !this.catalog) {
      return null;
    }
    const organizations = new Map<string, OrganizationGrants>();
    for (const m of rows.memberships) {
      const grants = this.organizations.get(m.organizationId);
      if (!grants) {
        return null;
      }
      organizations.set(m.organizationId, grants);
    }
    return this.compose(userId, rows, this.catalog, organizations);
  }

  private compose(
    userId: string,
    rows: UserRows,
    catalog: Catalog,
    organizations: ReadonlyMap<string, OrganizationGrants>,
  ): UserView {
    return {
      user: rows.user,
      access: new UserAccess(
        userId,
        rows.memberships,
        organizations,
        catalog,
        rows.user?.role === 'pending',
      ),
    };
  }

  private async readUserRows(manager: EntityManager, userId: string): Promise<UserRows> {
    const kind = this.db.kind;
    const [user] = await manager.query<Record<string, unknown>[]>(hotSql(USER_BY_ID, kind), [
      userId,
    ]);
    if (!user) {
      return { user: null, memberships: [] };
    }
    const memberships = (
      await manager.query<Record<string, unknown>[]>(hotSql(MEMBERSHIPS_OF_USER, kind), [userId])
    ).map((r): MembershipRow => ({
      organizationId: String(r.organization_id),
      organizationName: String(r.organization_name),
      organizationActive: toBool(r.organization_active),
      externalUser: String(r.external_user),
      role: r.role === 'admin' ? 'admin' : 'member',
      isActive: toBool(r.is_active),
    }));
    memberships.sort((a, b) => (a.organizationId < b.organizationId ? -1 : 1));
    return {
      user: {
        id: String(user.id),
        name: String(user.name),
        email: String(user.email),
        role: String(user.role) as KnownUser['role'],
      },
      memberships,
    };
  }

  private async readGrants(
    manager: EntityManager,
    organizationIds: string[],
    catalog: Catalog,
  ): Promise<Map<string, OrganizationGrants>> {
    const out = new Map<string, OrganizationGrants>();
    if (organizationIds.length === 0) {
      return out;
    }
    const rows = await manager.query<Record<string, unknown>[]>(
      hotSql(GRANTS_OF_ORGANIZATIONS, this.db.kind, organizationIds.length),
      organizationIds,
    );
    const byOrganization = new Map<string, GrantRow[]>(organizationIds.map((id) => [id, []]));
    for (const r of rows) {
      byOrganization.get(String(r.organization_id))?.push({
        organizationId: String(r.organization_id),
        modelId: String(r.model_id),
        isActive: toBool(r.is_active),
      });
    }
    for (const [id, grants] of byOrganization) {
      out.set(id, new OrganizationGrants(id, grants, catalog));
    }
    return out;
  }
}
