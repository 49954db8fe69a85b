import type { TableChange } from './database.service';

/**
 * The text of one PostgreSQL change notification (channel `model_access_changes`), sent by
 * a write transaction as it commits and read by every replica's change feed:
 *
 *     <revision> <instance id> <changes>
 *
 * `revision` is the writing transaction's id (see revisions.ts), `instance id` the sender
 * (a replica ignores the changes it already applied itself), `changes` the tables written
 * as JSON: `[["organization_members","user_id",["u-1","u-2"]],["audit_events"]]`, a table
 * alone when any of its rows may have changed. A notification carries at most
 * NOTIFY_PAYLOAD_LIMIT bytes: when the keys do not fit, the tables alone are sent, and when
 * even those do not fit, `*` (everything may have changed).
 */
export const NOTIFY_PAYLOAD_LIMIT = 7900;

/** PostgreSQL refuses payloads of 8,000 bytes or more; the revision is prepended in SQL. */
const REVISION_ROOM = 24;

type Encoded = [string] | [string, string, readonly string[]];

/** The payload after the revision: `<instance id> <changes>`, within the limit. */
export function encodeChanges(instanceId: string, tables: readonly TableChange[]): string {
  const limit = NOTIFY_PAYLOAD_LIMIT - REVISION_ROOM - instanceId.length - 1;
  const withKeys = JSON.stringify(
    tables.map((t): Encoded => (t.rows ? [t.table, t.rows.column, t.rows.keys] : [t.table])),
  );
  if (Buffer.byteLength(withKeys) <= limit) {
    return `${instanceId} ${withKeys}`;
  }
  const tablesOnly = JSON.stringify(tables.map((t): Encoded => [t.table]));
  if (Buffer.byteLength(tablesOnly) <= limit) {
    return `${instanceId} ${tablesOnly}`;
  }
  return `${instanceId} *`;
}

/** A notification as the receiving replica reads it. */
export interface ChangeMessage {
  revision: bigint;
  instanceId: string;
  tables: readonly TableChange[];
}

const EVERYTHING: readonly TableChange[] = [{ table: '*' }];

/**
 * Reads a notification; null for a text this version does not know. A text it cannot read
 * (e.g. from a replica of another version) means everything may have changed.
 */
export function decodeChanges(payload: string): ChangeMessage | null {
  const first = payload.indexOf(' ');
  const second = payload.indexOf(' ', first + 1);
  if (first < 1 || second < 0 || !/^\d{1,20}$/.test(payload.slice(0, first))) {
    return null;
  }
  const revision = BigInt(payload.slice(0, first));
  const instanceId = payload.slice(first + 1, second);
  const body = payload.slice(second + 1);
  return { revision, instanceId, tables: body === '*' ? EVERYTHING : parseTables(body) };
}

function parseTables(body: string): readonly TableChange[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return EVERYTHING;
  }
  if (!Array.isArray(parsed)) {
    return EVERYTHING;
  }
  const out: TableChange[] = [];
  for (const item of parsed as unknown[]) {
    if (!Array.isArray(item) || typeof item[0] !== 'string') {
      return EVERYTHING;
    }
    const [table, column, keys] = item as unknown[];
    if (item.length === 1) {
      out.push({ table: table as string });
    } else if (
      typeof column === 'string' &&
      Array.isArray(keys) &&
      keys.every((k) => typeof k === 'string')
    ) {
      out.push({ table: table as string, rows: { column, keys: keys as string[] } });
    } else {
      return EVERYTHING;
    }
  }
  return out;
}
