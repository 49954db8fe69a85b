import { Inject, Injectable } from '@nestjs/common';
import { BoundStatement, DatabaseService } from '../database/database.service';
import { Clock, CLOCK } from './clock';

/** The '' user of budget_spend: the organization's own row. */
export const ORGANIZATION_ROW = '';

/** Scopes whose spend is kept in memory at most (organizations x members x periods seen). */
const KNOWN_SPEND_LIMIT = 10_000;

/** Far above any budget (9e18 nano-dollars still fits a signed 64-bit integer). */
const NO_LIMIT = '9000000000000000000';

/** The budget a spend row is held against, read inside the reserving statement itself. */
const LIMIT_OF_ORGANIZATION =
  `COALESCE((SELECT CAST(ROUND(o.budget_usd * ${1_000_000_000}) AS BIGINT) ` +
  `FROM organizations o WHERE o.id = $1), ${NO_LIMIT})`;
const LIMIT_OF_MEMBER =
  `COALESCE((SELECT CAST(ROUND(m.budget_usd * ${1_000_000_000}) AS BIGINT) ` +
  `FROM organization_members m WHERE m.organization_id = $1 AND m.user_id = $2), ${NO_LIMIT})`;

/** One budget a call is held against: an organization's (user '') or a member's. */
export interface SpendScope {
  organizationId: string;
  /** '' for the organization itself, else the member's user id. */
  userId: string;
  periodStart: string;
}

export interface SpendRow {
  spentNanos: number;
  reservedNanos: number;
}

/** What a reservation holds, to settle or release later. */
export interface HeldReservation {
  scopes: SpendScope[];
  nanos: number;
}

/** A settlement waiting for the next write of the queue. */
interface QueuedSettlement {
  reservation: HeldReservation;
  spentNanos: number;
  done: { resolve(rows: SpendRow[]): void; reject(error: unknown): void };
}

export type ReserveResult =
  { held: true; reservation: HeldReservation } | { held: false; refusedBy: SpendScope };

/** A statement's text for SQLite and, for each `?`, which `$n` parameter it takes. */
interface SqliteForm {
  text: string;
  order: number[];
}

/** SQLite forms of the statements seen so far (a few fixed texts; forgotten past this many). */
const sqliteForms = new Map<string, SqliteForm>();
const SQLITE_FORMS_LIMIT = 256;

function sqliteFormOf(sql: string): SqliteForm {
  let form = sqliteForms.get(sql);
  if (!form) {
    const order: number[] = [];
    const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
      order.push(Number(n) - 1);
      return '?';
    });
    if (sqliteForms.size >= SQLITE_FORMS_LIMIT) {
      sqliteForms.clear();
    }
    form = { text, order };
    sqliteForms.set(sql, form);
  }
  return form;
}

/**
 * `$n` placeholders as each driver wants them (SQLite: `?`, repeated values repeated,
 * booleans as 0/1). The SQLite text is worked out once per statement: a reservation binds
 * three statements per budget on every gateway call.
 */
export function bind(
  kind: 'sqlite' | 'postgres',
  sql: string,
  params: unknown[],
): [string, unknown[]] {
  if (kind === 'postgres') {
    return [sql, params];
  }
  const { text, order } = sqliteFormOf(sql);
  return [
    text,
    order.map((i) => {
      const value = params[i];
      return typeof value === 'boolean' ? Number(value) : value;
    }),
  ];
}

/** Rows of an INSERT/UPDATE ... RETURNING: SQLite answers the rows, PostgreSQL [rows, count]. */
export function returnedRows(result: unknown): Record<string, unknown>[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0])) {
    return result[0] as Record<string, unknown>[];
  }
  return Array.isArray(result) ? (result as Record<string, unknown>[]) : [];
}

function toRow(r: Record<string, unknown> | undefined): SpendRow | null {
  return r ? { spentNanos: Number(r.spent_nanos), reservedNanos: Number(r.reserved_nanos) } : null;
}

/**
 * Spend per (organization, period) and per (member, period), in `budget_spend`.
 *
 * A reservation is one conditional UPDATE per budget: `reserved += x WHERE spent + reserved
 * + x <= budget`, with the budget read inside the same statement. PostgreSQL re-checks the
 * condition on the row it locks, SQLite runs writers one at a time, so however many
 * replicas reserve at once, the sum of what they hold never passes the budget. A period
 * without a row gets one holding the call if it fits (INSERT ... ON CONFLICT DO NOTHING),
 * and the UPDATE runs again (see holdStatements). A call held against two budgets
 * (organization and member) holds both or neither: one transaction, rolled back when the
 * second does not fit. Settling moves a reservation into spend at the actual cost;
 * releasing gives it back; both are queued and written together once per turn of the event
 * loop (see queue()). Writes here change no cached access answer (the rule reads spend live).
 *
 * On SQLite these statements are prepared once and run synchronously
 * (DatabaseService.appendStatements): a reservation costs tens of microseconds and no turn
 * of the event loop, which is what keeps it off a gateway call's latency.
 */
@Injectable()
export class BudgetLedgerService {
  /** Settlements not written yet (see queue()). */
  private settlements: QueuedSettlement[] = [];
  /**
   * SQLite: the spend of each scope as last read or settled here (see spentOf), or null on
   * PostgreSQL, where other replicas settle without telling this one.
   */
  private readonly knownSpend: Map<string, number> | null;
  /** Bumped whenever knownSpend may have gone stale: a read begun before is not kept. */
  private spendGeneration = 0;

  constructor(
    private readonly db: DatabaseService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    db.beforeClose(() => this.flush());
    this.knownSpend = db.kind === 'sqlite' ? new Map() : null;
    db.onChange((change) => {
      // Spend rows change here (settlements update knownSpend themselves), in another
      // process (heard as an external change), or go with their organization.
      if (
        change.kind === 'external' ||
        change.tables.some((t) => t.table === 'organizations' || t.table === '*')
      ) {
        this.forgetSpend();
      }
    });
  }

  /** Holds `nanos` on every scope, all or none (one transaction). */
  async reserve(scopes: SpendScope[], nanos: number): Promise<ReserveResult> {
    const now = this.clock.now().toISOString();
    const outcome = await this.db.appendStatements(
      scopes.map((scope) => this.holdStatements(scope, nanos, now)),
      true,
    );
    if (outcome.committed) {
      return { held: true, reservation: { scopes, nanos } };
    }
    const refusedBy = scopes[outcome.rowlessAt];
    // The spend kept in memory may be behind what refused the call (another process's
    // settlement not heard of yet): the next decision reads it.
    this.knownSpend?.delete(
      scopeKey(refusedBy.organizationId, refusedBy.userId, refusedBy.periodStart),
    );
    return { held: false, refusedBy };
  }

  /**
   * Turns a reservation into spend at the actual cost. Answers each scope's row after the
   * change (for alerts), in the order of the reservation's scopes, once it is written.
   */
  async settle(reservation: HeldReservation, actualNanos: number): Promise<SpendRow[]> {
    return this.queue(reservation, Math.max(0, Math.round(actualNanos)));
  }

  /** Gives a reservation back unspent (the call failed or was aborted before any cost). */
  async release(reservation: HeldReservation): Promise<void> {
    await this.queue(reservation, 0);
  }

  /**
   * Writes every settlement queued so far (also called before the database closes, so
   * none is lost on shutdown).
   */
  async flush(): Promise<void> {
    const batch = this.settlements;
    this.settlements = [];
    if (batch.length === 0) {
      return;
    }
    // Settlements only add and subtract: those of one scope sum into one UPDATE. Rows are
    // taken in one order (an organization's own row first, as reservations take them).
    const totals = new Map<string, { scope: SpendScope; reserved: number; spent: number }>();
    for (const { reservation, spentNanos } of batch) {
      for (const scope of reservation.scopes) {
        const key = scopeKey(scope.organizationId, scope.userId, scope.periodStart);
        const total = totals.get(key) ?? { scope, reserved: 0, spent: 0 };
        total.reserved += reservation.nanos;
        total.spent += spentNanos;
        totals.set(key, total);
      }
    }
    const keys = [...totals.keys()].sort();
    const now = this.clock.now().toISOString();
    try {
      const outcome = await this.db.appendStatements(
        keys.map((key) => [this.adjustStatement(totals.get(key)!, now)]),
        false,
      );
      const after = new Map<string, SpendRow>();
      if (outcome.committed) {
        // A row deleted meanwhile (its organization was) answers nothing: zero spend.
        keys.forEach((key, i) => {
          after.set(key, toRow(outcome.rows[i][0]) ?? { spentNanos: 0, reservedNanos: 0 });
        });
      }
      this.learnSpend(after);
      for (const { reservation, done } of batch) {
        done.resolve(
          reservation.scopes.map(
            (scope) =>
              after.get(scopeKey(scope.organizationId, scope.userId, scope.periodStart)) ?? {
                spentNanos: 0,
                reservedNanos: 0,
              },
          ),
        );
      }
    } catch (error) {
      // Whether any of it was written is unknown: read the spend again.
      this.forgetSpend();
      batch.forEach(({ done }) => done.reject(error));
    }
  }

  /** Settled rows, as written: the spend they hold now. */
  private learnSpend(rows: ReadonlyMap<string, SpendRow>): void {
    this.spendGeneration++;
    if (this.knownSpend) {
      for (const [key, row] of rows) {
        this.knownSpend.set(key, row.spentNanos);
      }
    }
  }

  private forgetSpend(): void {
    this.spendGeneration++;
    this.knownSpend?.clear();
  }

  /**
   * What each scope has spent in its period (0 without a row), keyed by scopeKey. On SQLite
   * every settlement is written by this process (another process's writes are heard through
   * PRAGMA data_version and empty the memo), so the spend is kept in memory once read and
   * moved by each settlement: the access rule asks on every gateway call under a budget,
   * and a read there cost a read transaction (file locks, and pages re-read after each
   * write) per call. Reservations do not change spend. PostgreSQL reads every time.
   */
  async spentOf(scopes: SpendScope[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const missing: SpendScope[] = [];
    for (const scope of scopes) {
      const key = scopeKey(scope.organizationId, scope.userId, scope.periodStart);
      const known = this.knownSpend?.get(key);
      if (known === undefined) {
        missing.push(scope);
      } else {
        out.set(key, known);
      }
    }
    if (missing.length === 0) {
      return out;
    }
    const generation = this.spendGeneration;
    const rows = await this.read(missing);
    for (const scope of missing) {
      const key = scopeKey(scope.organizationId, scope.userId, scope.periodStart);
      const spent = rows.get(key)?.spentNanos ?? 0;
      out.set(key, spent);
      if (this.knownSpend && generation === this.spendGeneration) {
        if (this.knownSpend.size >= KNOWN_SPEND_LIMIT) {
          this.knownSpend.clear();
        }
        this.knownSpend.set(key, spent);
      }
    }
    return out;
  }

  /** Current rows of some scopes (missing rows are absent from the map), read outside writes. */
  async read(scopes: SpendScope[]): Promise<Map<string, SpendRow>> {
    const out = new Map<string, SpendRow>();
    if (scopes.length === 0) {
      return out;
    }
    const params: unknown[] = [];
    const conditions = scopes.map((scope) => {
      params.push(scope.organizationId, scope.userId, scope.periodStart);
      const n = params.length;
      return `(organization_id = $${n - 2} AND user_id = $${n - 1} AND period_start = $${n})`;
    });
    const rows = await this.db.readStatement(
      bind(
        this.db.kind,
        'SELECT organization_id, user_id, period_start, spent_nanos, reserved_nanos ' +
          `FROM budget_spend WHERE ${conditions.join(' OR ')}`,
        params,
      ),
    );
    for (const r of rows) {
      out.set(
        scopeKey(String(r.organization_id), String(r.user_id), String(r.period_start)),
        toRow(r)!,
      );
    }
    return out;
  }

  now(): Date {
    return this.clock.now();
  }

  /**
   * Holds `nanos` on one scope, within its budget; answers a row when it held. First the
   * conditional UPDATE (the row of the period exists: almost always); when it answers
   * nothing, the row is created holding `nanos` if it fits (a concurrent creator wins: the
   * insert does nothing), then the UPDATE once more. Each statement is atomic on its own.
   * Not one INSERT ... ON CONFLICT DO UPDATE: PostgreSQL locks the conflicting row even when
   * the call does not fit, so every refusal would queue on the row lock behind every
   * reservation in progress; an UPDATE whose condition is false on the committed row passes
   * it by without waiting.
   */
  private holdStatements(scope: SpendScope, nanos: number, now: string): BoundStatement[] {
    const limit = scope.userId === ORGANIZATION_ROW ? LIMIT_OF_ORGANIZATION : LIMIT_OF_MEMBER;
    const params = [scope.organizationId, scope.userId, scope.periodStart, nanos, now];
    const update = bind(
      this.db.kind,
      'UPDATE budget_spend SET reserved_nanos = reserved_nanos + $4, updated_at = $5 ' +
        'WHERE organization_id = $1 AND user_id = $2 AND period_start = $3 ' +
        `AND spent_nanos + reserved_nanos + $4 <= ${limit} ` +
        'RETURNING spent_nanos, reserved_nanos',
      params,
    );
    const insert = bind(
      this.db.kind,
      'INSERT INTO budget_spend (organization_id, user_id, period_start, spent_nanos, reserved_nanos, updated_at) ' +
        // typed, so that PostgreSQL deduces one type for each parameter wherever it is used
        'SELECT CAST($1 AS VARCHAR), CAST($2 AS VARCHAR), CAST($3 AS VARCHAR), 0, ' +
        `CAST($4 AS BIGINT), CAST($5 AS VARCHAR) WHERE CAST($4 AS BIGINT) <= ${limit} ` +
        'ON CONFLICT DO NOTHING RETURNING spent_nanos, reserved_nanos',
      params,
    );
    return [update, insert, update];
  }

  /**
   * Queues a settlement; the queue is written at the end of this turn of the event loop,
   * in one transaction with every other settlement queued meanwhile: under load, one
   * transaction settles many calls, off their answers' path.
   */
  private queue(reservation: HeldReservation, spentNanos: number): Promise<SpendRow[]> {
    return new Promise<SpendRow[]>((resolve, reject) => {
      this.settlements.push({ reservation, spentNanos, done: { resolve, reject } });
      if (this.settlements.length === 1) {
        setImmediate(() => void this.flush());
      }
    });
  }

  private adjustStatement(
    total: { scope: SpendScope; reserved: number; spent: number },
    now: string,
  ): BoundStatement {
    const { scope } = total;
    return bind(
      this.db.kind,
      'UPDATE budget_spend SET reserved_nanos = reserved_nanos - $4, ' +
        'spent_nanos = spent_nanos + $5, updated_at = $6 ' +
        'WHERE organization_id = $1 AND user_id = $2 AND period_start = $3 ' +
        'RETURNING spent_nanos, reserved_nanos',
      [scope.organizationId, scope.userId, scope.periodStart, total.reserved, total.spent, now],
    );
  }
}

export function scopeKey(organizationId: string, userId: string, periodStart: string): string {
  return `${organizationId}\u0000${userId}\u0000${periodStart}`;
}
