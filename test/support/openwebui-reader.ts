import Database from 'better-sqlite3';

/**
 * An independent reading of what Open WebUI let each user use, straight from its SQLite file
 * with plain SQL (no code shared with the migration tool), following Open WebUI's own rules:
 * - a model is listed to a non-admin user only when it has a row in `model` and the user owns
 *   it or may read it (backend/open_webui/utils/models.py get_filtered_models): a read grant
 *   to user `*`, to the user, or to one of the user's groups (access_grants.py has_access); in
 *   versions before access_grant, `access_control` NULL is public and `{}` the owner only;
 * - inactive rows are not offered; an override row counts only while a connection serves it
 *   (when the config lists the connection's model_ids);
 * - an active preset (base_model_id set) the user may read sends its requests to its base, so
 *   the user uses the base when that base is served and, if it has a row, is an active
 *   provider row.
 * Pending users use nothing. Admins' bypass is left out (the service does not copy it).
 * Returns provider model ids per user id.
 */
export function openWebUiUsableModels(file: string): Map<string, Set<string>> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = new Set(
      (
        db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as {
          name: string;
        }[]
      ).map((t) => t.name),
    );
    const users = db.prepare(`SELECT id FROM "user" WHERE role <> 'pending'`).all() as {
      id: string;
    }[];
    const groupsOf = new Map<string, Set<string>>();
    const addMember = (groupId: string, userId: string) =>
      groupsOf.set(userId, new Set([...(groupsOf.get(userId) ?? []), groupId]));
    if (tables.has('group_member')) {
      for (const m of db.prepare(`SELECT group_id, user_id FROM group_member`).all() as {
        group_id: string;
        user_id: string;
      }[]) {
        addMember(m.group_id, m.user_id);
      }
    } else {
      for (const g of db.prepare(`SELECT id, user_ids FROM "group"`).all() as {
        id: string;
        user_ids: string | null;
      }[]) {
        for (const u of (JSON.parse(g.user_ids ?? '[]') ?? []) as string[]) {
          addMember(g.id, u);
        }
      }
    }
    const hasAccessControl = !tables.has('access_grant');
    const rows = db
      .prepare(
        `SELECT id, user_id, base_model_id, is_active${hasAccessControl ? ', access_control' : ''} FROM model`,
      )
      .all() as {
      id: string;
      user_id: string;
      base_model_id: string | null;
      is_active: number;
      access_control?: string | null;
    }[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    const readGrants = hasAccessControl
      ? null
      : (db
          .prepare(
            `SELECT resource_id, principal_type, principal_id FROM access_grant
             WHERE resource_type = 'model' AND permission = 'read'`,
          )
          .all() as { resource_id: string; principal_type: string; principal_id: string }[]);
    let served: Set<string> | null = null;
    if (tables.has('config')) {
      const row = db.prepare(`SELECT data FROM config ORDER BY id DESC LIMIT 1`).get() as
        { data: string } | undefined;
      const configs = row ? JSON.parse(row.data)?.openai?.api_configs : undefined;
      if (configs) {
        served = new Set(
          Object.values(configs).flatMap((c) => (c as { model_ids: string[] }).model_ids),
        );
      }
    }
    const isServed = (id: string) => served === null || served.has(id);
    const mayRead = (userId: string, r: (typeof rows)[number]): boolean => {
      if (r.user_id === userId) {
        return true;
      }
      const mine = groupsOf.get(userId) ?? new Set<string>();
      if (readGrants) {
        return readGrants.some(
          (g) =>
            g.resource_id === r.id &&
            ((g.principal_type === 'user' &&
              (g.principal_id === '*' || g.principal_id === userId)) ||
              (g.principal_type === 'group' && mine.has(g.principal_id))),
        );
      }
      const ac =
        r.access_control === null || r.access_control === undefined
          ? null
          : JSON.parse(r.access_control);
      if (ac === null) {
        return true;
      }
      const read = (ac as { read?: { group_ids?: string[]; user_ids?: string[] } }).read;
      return (
        (read?.user_ids ?? []).includes(userId) || (read?.group_ids ?? []).some((g) => mine.has(g))
      );
    };
    const result = new Map<string, Set<string>>();
    for (const u of users) {
      const usable = new Set<string>();
      for (const r of rows) {
        if (r.is_active !== 1 || !mayRead(u.id, r)) {
          continue;
        }
        if (r.base_model_id === null || r.base_model_id === '') {
          if (isServed(r.id)) {
            usable.add(r.id);
          }
          continue;
        }
        const base = byId.get(r.base_model_id);
        const baseUsable = base
          ? (base.base_model_id === null || base.base_model_id === '') && base.is_active === 1
          : true;
        if (baseUsable && isServed(r.base_model_id)) {
          usable.add(r.base_model_id);
        }
      }
      result.set(u.id, usable);
    }
    return result;
  } finally {
    db.close();
  }
}
