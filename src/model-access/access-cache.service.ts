import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { numberOrNull } from '../budgets/budget-settings';
import { DataChange, DatabaseService } from '../database/database.service';
import { cacheBypassed } from '../database/revisions';
import { UserEntity } from '../users/entities/user.entity';
import {
  Catalog,
  CatalogModel,
  GrantRow,
  MembershipRow,
  membershipRow,
  OrganizationGrants,
  UserAccess,
} from './access-rule';
import {
  CacheLayer,
  CATALOG,
  Emptied,
  GRANTS_OF_ORGANIZATIONS,
  hotSql,
  layersEmptiedBy,
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
 * Keys a write transaction declares it changes: the users whose memberships, the
 * organizations whose grants (see AccessCacheService.narrowWritesTo).
 */
export interface Narrowing {
  users?: readonly string[];
  organizations?: readonly string[];
}

/** Most bytes of serialized answers (model lists) kept; the oldest go first. */
const RESPONSE_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * JSON text as UTF-8 bytes in a buffer of its own (not a slice of Node's shared pool, which
 * a long-kept entry would pin). A cached answer is sent as these bytes: a string would be
 * measured and encoded again for every response, and copied into a fresh allocation by
 * the socket write, which for a list of a few kilobytes cost more than the rest of the
 * request.
 */
export function utf8Bytes(text: string): Buffer {
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  bytes.write(text);
  return bytes;
}

/**
 * How many of the latest invalidations are remembered, to tell whether an answer read
 * since a given generation read anything a write emptied meanwhile. An answer that
 * started before the oldest remembered one is not stored (as if everything had changed).
 */
const EMPTIED_LOG = 1024;

/**
 * Computes users' access from the database and keeps the answers in memory, in layers:
 * the catalog, each organization's grants (shared by its members), each user's rows,
 * and on top the composed views and serialized lists.
 *
 * Correctness first: an answer whose inputs changed while it was computed is served but
 * never stored (inputs: the entries it read, by layer and key; a write that ended meanwhile
 * but emptied other keys does not stop it). Every write (through DatabaseService.write, the only way to write) reports
 * the tables it changed, with the keys it declared, when it ends and before it is
 * acknowledged; the layers to empty follow from what each query of hot-queries.ts declares
 * it reads (`layersEmptiedBy`). Changes from elsewhere (other replicas, other processes)
 * empty what they name. So the read after an acknowledged write always sees it, while a
 * membership write does not throw away the catalog and grants, nor other users' views.
 */
@Injectable()
export class AccessCacheService {
  private catalog: Catalog | null = null;
  private readonly organizations = new Map<string, OrganizationGrants>();
  private readonly userRows = new Map<string, UserRows>();
  private readonly views = new Map<string, UserView>();
  /**
   * Serialized answers by user, then by kind. Keyed by the user id as given (no key string
   * built per request): a lookup hashes that string once, and the view lookup before it
   * already did.
   */
  private readonly responses = new Map<string, Map<string, Buffer>>();
  private responseBytes = 0;
  /**
   * The users whose views were composed from each organization's grants: a write of those
   * grants drops their views (and serialized answers). May name users whose view is gone.
   */
  private readonly viewersOf = new Map<string, Set<string>>();
  /** Increases whenever entries are emptied (see `emptiedLog`). */
  private generation = 0;
  /** The latest invalidations, oldest first: the generation each raised, what it emptied. */
  private readonly emptiedLog: { generation: number; emptied: Emptied }[] = [];

  constructor(
    private readonly db: DatabaseService,
    private readonly config: AppConfig,
  ) {
    db.onChange((change) => this.onChange(change));
  }

  private get enabled(): boolean {
    return this.config.accessCacheSize > 0;
  }

  /** Empties every layer. */
  clear(): void {
    this.onChange({ kind: 'external', tables: [{ table: '*' }] });
  }

  get size(): number {
    return this.views.size;
  }

  private dropDerived(): void {
    this.views.clear();
    this.viewersOf.clear();
    this.responses.clear();
    this.responseBytes = 0;
  }

  /** Drops one user's view and serialized answers (their layers are dealt with apart). */
  private dropDerivedOf(userId: string): void {
    this.views.delete(userId);
    this.dropResponsesOf(userId);
  }

  private dropResponsesOf(userId: string): void {
    const kept = this.responses.get(userId);
    if (kept) {
      this.responses.delete(userId);
      kept.forEach((bytes) => (this.responseBytes -= bytes.length));
    }
  }

  /**
   * Declares, inside a write transaction, the only keys its statements on
   * organization_members (users) and organization_models (organizations) change, so that
   * the write's end empties those users' rows and those organizations' grants instead of
   * the whole layer. Statements on any other table, or in transactions that declare
   * nothing, still empty whole layers.
   */
  narrowWritesTo(tx: EntityManager, keys: Narrowing): void {
    if (keys.users) {
      this.db.declareRows(tx, 'organization_members', 'user_id', keys.users);
    }
    if (keys.organizations) {
      this.db.declareRows(tx, 'organization_models', 'organization_id', keys.organizations);
    }
  }

  private onChange(change: DataChange): void {
    const emptied = layersEmptiedBy(change.tables);
    if (emptied.size === 0) {
      return;
    }
    this.generation++;
    this.emptiedLog.push({ generation: this.generation, emptied });
    if (this.emptiedLog.length > EMPTIED_LOG) {
      this.emptiedLog.shift();
    }
    let wholeLayer = false;
    for (const [layer, keys] of emptied) {
      const map =
        layer === 'users' ? this.userRows : layer === 'grants' ? this.organizations : null;
      if (keys === 'all') {
        wholeLayer = true;
        if (map) {
          map.clear();
        } else {
          this.catalog = null;
        }
      } else if (map) {
        keys.forEach((key) => map.delete(key));
      }
    }
    if (wholeLayer) {
      this.dropDerived();
      return;
    }
    // Views and serialized lists are rebuilt from the layers without a query; only those
    // built from an emptied entry go: the users named, the members of the organizations named.
    const users = emptied.get('users');
    if (users instanceof Set) {
      users.forEach((userId) => this.dropDerivedOf(userId));
    }
    const grants = emptied.get('grants');
    if (grants instanceof Set) {
      for (const organizationId of grants) {
        this.viewersOf.get(organizationId)?.forEach((userId) => this.dropDerivedOf(userId));
        this.viewersOf.delete(organizationId);
      }
    }
  }

  /**
   * True when an answer computed from reads made since `generation` may be stored: no entry
   * it was built from (`layer` and `keys`; the whole layer for the catalog) was emptied
   * meanwhile, and other replicas' changes are observable. A write still in flight does
   * not forbid it: whatever such an answer read of that write (a PostgreSQL read may see
   * it commit between two of its statements; SQLite readers may share its connection), the
   * write's end empties what it touched after the answer is stored, and an answer that
   * straddles the end is not stored at all.
   */
  private storable(
    generation: number,
    inputs: readonly [CacheLayer, readonly string[] | null][],
  ): boolean {
    if (!this.enabled || !this.db.changesObservable) {
      return false;
    }
    const since = this.generation - generation;
    if (since === 0) {
      return true;
    }
    if (since > this.emptiedLog.length) {
      return false; // older than the log: assume the worst
    }
    for (let i = this.emptiedLog.length - since; i < this.emptiedLog.length; i++) {
      const emptied = this.emptiedLog[i].emptied;
      for (const [layer, keys] of inputs) {
        const gone = emptied.get(layer);
        if (gone === 'all' || (gone && (keys === null || keys.some((key) => gone.has(key))))) {
          return false;
        }
      }
    }
    return true;
  }

  /** What a user's view is built from: their rows, the catalog, their organizations' grants. */
  private viewInputs(userId: string, view: UserView): [CacheLayer, readonly string[] | null][] {
    return [
      ['users', [userId]],
      ['catalog', null],
      ['grants', view.access.memberships.map((m) => m.organizationId)],
    ];
  }

  private rememberView(userId: string, view: UserView): void {
    this.remember(this.views, userId, view);
    for (const m of view.access.memberships) {
      let viewers = this.viewersOf.get(m.organizationId);
      if (!viewers) {
        viewers = new Set();
        this.viewersOf.set(m.organizationId, viewers);
      }
      viewers.add(userId);
    }
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

  /**
   * A user's view. Inside a request whose minimum revision this replica has not heard yet
   * (revisions.ts), every layer is read from the database instead.
   */
  async view(userId: string): Promise<UserView> {
    const known = this.cachedView(userId);
    if (known) {
      return known;
    }
    const bypass = cacheBypassed();
    const version = this.generation;
    const fresh = await this.db.read((m) => this.load(m, userId, version, bypass));
    if (this.storable(version, this.viewInputs(userId, fresh))) {
      this.rememberView(userId, fresh);
    }
    return fresh;
  }

  /**
   * A user's view when it can be had without a query (a kept view, or one composed from
   * the cached layers), else undefined; view() reads the database for the rest. The access
   * check calls it first, so that a warm answer needs no promise at all.
   */
  cachedView(userId: string): UserView | undefined {
    if (cacheBypassed()) {
      return undefined;
    }
    const kept = this.views.get(userId);
    if (kept) {
      return kept;
    }
    const version = this.generation;
    const composed = this.composeFromLayers(userId);
    if (composed && this.storable(version, this.viewInputs(userId, composed))) {
      this.rememberView(userId, composed);
    }
    return composed ?? undefined;
  }

  /**
   * A serialized answer for a user (e.g. the JSON of their model list, as UTF-8 bytes),
   * built from their view once and kept until the data it depends on changes.
   */
  serialized(
    kind: string,
    userId: string,
    build: (view: UserView) => string,
  ): Buffer | Promise<Buffer> {
    const cached = cacheBypassed() ? undefined : this.responses.get(userId)?.get(kind);
    if (cached !== undefined) {
      return cached;
    }
    const version = this.generation;
    const keep = (view: UserView): Buffer =>
      this.keepSerialized(
        kind,
        userId,
        utf8Bytes(build(view)),
        version,
        this.viewInputs(userId, view),
      );
    const view = this.cachedView(userId);
    return view ? keep(view) : this.view(userId).then(keep);
  }

  /**
   * Keeps a serialized answer (within the byte budget; the users whose answers were kept
   * first go first); returns it.
   */
  private keepSerialized(
    kind: string,
    userId: string,
    bytes: Buffer,
    version: number,
    inputs: [CacheLayer, readonly string[] | null][],
  ): Buffer {
    if (this.storable(version, inputs) && bytes.length <= RESPONSE_CACHE_BYTES / 16) {
      let kept = this.responses.get(userId);
      if (!kept) {
        kept = new Map();
        this.responses.set(userId, kept);
      }
      this.responseBytes += bytes.length - (kept.get(kind)?.length ?? 0);
      kept.set(kind, bytes);
      for (const oldest of this.responses.keys()) {
        if (this.responseBytes <= RESPONSE_CACHE_BYTES) {
          break;
        }
        this.dropResponsesOf(oldest);
      }
    }
    return bytes;
  }

  /** The catalog; a read transaction only when it is not cached. */
  async currentCatalog(): Promise<Catalog> {
    return this.catalog && !cacheBypassed()
      ? this.catalog
      : this.db.read((m) => this.getCatalog(m));
  }

  async getCatalog(manager: EntityManager): Promise<Catalog> {
    if (this.catalog && !cacheBypassed()) {
      return this.catalog;
    }
    const version = this.generation;
    const rows = await manager.query<Record<string, unknown>[]>(hotSql(CATALOG, this.db.kind));
    const catalog = new Catalog(
      rows.map((r): CatalogModel => ({
        id: String(r.id),
        name: String(r.name),
        baseModelId: r.base_model_id === null ? null : String(r.base_model_id),
        isActive: toBool(r.is_active),
        createdAt: String(r.created_at),
        promptPriceUsd: numberOrNull(r.prompt_price_usd),
        completionPriceUsd: numberOrNull(r.completion_price_usd),
        contextLength: numberOrNull(r.context_length),
        maxCompletionTokens: numberOrNull(r.max_completion_tokens),
      })),
    );
    if (this.storable(version, [['catalog', null]])) {
      this.catalog = catalog;
    }
    return catalog;
  }

  /** Reads what the cached layers lack, fills them when nothing changed meanwhile, applies the rule. */
  private async load(
    manager: EntityManager,
    userId: string,
    version: number,
    bypass: boolean,
  ): Promise<UserView> {
    const rows =
      (bypass ? undefined : this.userRows.get(userId)) ??
      (await this.readUserRows(manager, userId));
    if (this.storable(version, [['users', [userId]]])) {
      this.remember(this.userRows, userId, rows);
    }
    const catalog = await this.getCatalog(manager);
    // The cached grants are taken now: a write ending while the others are read may empty
    // them, and an organization missing from the view would read as "no grant".
    const cached = new Map<string, OrganizationGrants>();
    const missing: string[] = [];
    for (const m of rows.memberships) {
      const grants = bypass ? undefined : this.organizations.get(m.organizationId);
      if (grants) {
        cached.set(m.organizationId, grants);
      } else {
        missing.push(m.organizationId);
      }
    }
    const loaded = await this.readGrants(manager, missing, catalog);
    for (const [id, grants] of loaded) {
      // resolved against the catalog: stale if it changed meanwhile
      if (
        this.storable(version, [
          ['grants', [id]],
          ['catalog', null],
        ])
      ) {
        this.organizations.set(id, grants);
      }
    }
    const organizations = new Map<string, OrganizationGrants>();
    for (const m of rows.memberships) {
      const grants = loaded.get(m.organizationId) ?? cached.get(m.organizationId);
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
    ).map(membershipRow);
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
