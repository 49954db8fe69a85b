import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { BoundStatement, DatabaseService, StatementsOutcome } from '../database/database.service';
import { Clock, CLOCK } from './clock';

/** The '' user of budget_spend: the organization's own row. */
export const ORGANIZATION_ROW = '';

/** Scopes whose spend is kept in memory at most (organizations x members x periods seen). */
const KNOWN_SPEND_LIMIT = 10_000;

/**
 * SQLite: how long settled spend may wait in memory to be written with the settlements that
 * follow (at most this much spend is lost if the process dies; none on a graceful stop).
 */
const SQLITE_SETTLEMENT_DELAY_MS = 50;

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

/**
 * SQLite: what this process holds on one scope beyond its committed row: reservations of
 * calls in flight, and spend settled but not written yet.
 */
interface HeldSpend {
  reserved: number;
  unwritten: number;
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
 * PostgreSQL (any number of replicas): a reservation is one conditional UPDATE per budget:
 * `reserved += x WHERE spent + reserved + x <= budget`, with the budget read inside the same
 * statement. PostgreSQL re-checks the condition on the row it locks, so however many
 * replicas reserve at once, the sum of what they hold never passes the budget. A period
 * without a row gets one holding the call if it fits (INSERT ... ON CONFLICT DO NOTHING),
 * and the UPDATE runs again (see holdStatements). A call held against two budgets
 * (organization and member) holds both or neither: one transaction, rolled back when the
 * second does not fit.
 *
 * SQLite (one server process, as for rate limits without Redis): the same condition is
 * checked and held in this process's memory (`held`), synchronously, so no two calls can
 * interleave between the check and the hold: a reservation costs no transaction (on this
 * machine a write transaction is half a dozen file-lock system calls and a WAL write, which
 * was most of what a budget added to a gateway call). The spend it is checked against is
 * the committed row (read once, then moved by this process's own settlements, see spentOf)
 * plus what was settled and not yet written. Reservations of a process that stopped are
 * therefore gone with it, as the calls they held are; any left in the table by an earlier
 * version are cleared at boot.
 *
 * Settling moves a reservation into spend at the actual cost; releasing gives it back; the
 * writes are queued and done together, once per turn of the event loop on PostgreSQL and
 * within SQLITE_SETTLEMENT_DELAY_MS on SQLite (see queue()). Writes here change no cached
 * access answer (the rule reads spend live).
 */
@Injectable()
export class BudgetLedgerService implements OnApplicationBootstrap {
  private readonly logger = new Logger(BudgetLedgerService.name);
  /** Settlements not written yet (see queue()). */
  private settlements: QueuedSettlement[] = [];
  /** SQLite: settlement writes failed in a row (the retry waits longer each time). */
  private failedWrites = 0;
  /** SQLite: reservations and unwritten spend per scope key (see the class comment); null on PostgreSQL. */
  private readonly held: Map<string, HeldSpend> | null;
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
    this.held = db.kind === 'sqlite' ? new Map() : null;
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

  /** SQLite: reservations left in the table by a process that stopped hold nothing any more. */
  async onApplicationBootstrap(): Promise<void> {
    if (this.held) {
      await this.db.appendStatements(
        [[['UPDATE budget_spend SET reserved_nanos = 0 WHERE reserved_nanos <> 0', []]]],
        false,
      );
    }
  }

  /**
   * Holds `nanos` on every scope, all or none. `budgets` are the scopes' budgets in
   * nano-dollars as this process knows them (same order): SQLite checks against them;
   * PostgreSQL reads each in the reserving statement, whatever another replica just wrote.
   */
  async reserve(
    scopes: SpendScope[],
    nanos: number,
    budgets: readonly number[],
  ): Promise<ReserveResult> {
    if (this.held) {
      return this.reserveHere(this.held, scopes, nanos, budgets);
    }
    const now = this.clock.now().toISOString();
    const outcome = await this.db.appendStatements(
      scopes.map((scope) => this.holdStatements(scope, nanos, now)),
      true,
    );
    if (outcome.committed) {
      return { held: true, reservation: { scopes, nanos } };
    }
    return { held: false, refusedBy: scopes[outcome.rowlessAt] };
  }

  /**
   * SQLite: checks and holds in memory. The committed spend comes from the memo, or from a
   * read; the check and the hold then run without yielding, against the reservations and
   * unwritten settlements as they are at that moment. A read that a settlement's write
   * overtook (the generation moved) is done again.
   */
  private async reserveHere(
    held: Map<string, HeldSpend>,
    scopes: SpendScope[],
    nanos: number,
    budgets: readonly number[],
  ): Promise<ReserveResult> {
    const keys = scopes.map(keyOfScope);
    for (;;) {
      const generation = this.spendGeneration;
      const committed = this.knownCommitted(keys) ?? (await this.readCommitted(scopes, keys));
      if (generation !== this.spendGeneration) {
        continue;
      }
      for (const [i, key] of keys.entries()) {
        const h = held.get(key);
        const total = committed[i] + (h?.unwritten ?? 0) + (h?.reserved ?? 0) + nanos;
        if (total > budgets[i]) {
          // The memo may be behind spend another process wrote: the next call reads it.
          this.knownSpend?.delete(key);
          return { held: false, refusedBy: scopes[i] };
        }
      }
      for (const key of keys) {
        const h = held.get(key);
        if (h) {
          h.reserved += nanos;
        } else {
          held.set(key, { reserved: nanos, unwritten: 0 });
        }
      }
      return { held: true, reservation: { scopes, nanos } };
    }
  }

  /** The memo's committed spend of every key, or null when one is not known. */
  private knownCommitted(keys: readonly string[]): number[] | null {
    const out: number[] = [];
    for (const key of keys) {
      const known = this.knownSpend?.get(key);
      if (known === undefined) {
        return null;
      }
      out.push(known);
    }
    return out;
  }

  /** Reads the committed spend of the scopes (0 without a row) and keeps it in the memo. */
  private async readCommitted(scopes: SpendScope[], keys: readonly string[]): Promise<number[]> {
    const generation = this.spendGeneration;
    const rows = await this.readRows(scopes);
    const spent = keys.map((key) => rows.get(key)?.spentNanos ?? 0);
    if (this.knownSpend && generation === this.spendGeneration) {
      keys.forEach((key, i) => this.remember(key, spent[i]));
    }
    return spent;
  }

  private remember(key: string, spentNanos: number): void {
    if (this.knownSpend!.size >= KNOWN_SPEND_LIMIT) {
      this.knownSpend!.clear();
    }
    this.knownSpend!.set(key, spentNanos);
  }

  /**
   * Turns a reservation into spend at the actual cost. Answers each scope's row after the
   * change (for alerts), in the order of the reservation's scopes, once it is written.
   */
  async settle(reservation: HeldReservation, actualNanos: number): Promise<SpendRow[]> {
    const spent = Math.max(0, Math.round(actualNanos));
    this.unhold(reservation, spent);
    return this.queue(reservation, spent);
  }

  /** Gives a reservation back unspent (the call failed or was aborted before any cost). */
  async release(reservation: HeldReservation): Promise<void> {
    if (this.held) {
      this.unhold(reservation, 0);
      return;
    }
    await this.queue(reservation, 0);
  }

  /** SQLite: the reservation leaves memory; what it spent counts as unwritten until written. */
  private unhold(reservation: HeldReservation, spentNanos: number): void {
    if (!this.held) {
      return;
    }
    for (const scope of reservation.scopes) {
      const key = keyOfScope(scope);
      const h = this.held.get(key);
      if (h) {
        h.reserved -= reservation.nanos;
        h.unwritten += spentNanos;
        this.pruneHeld(key, h);
      }
    }
  }

  private pruneHeld(key: string, h: HeldSpend): void {
    if (h.reserved <= 0 && h.unwritten <= 0) {
      this.held!.delete(key);
    }
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
        const key = keyOfScope(scope);
        const total = totals.get(key) ?? { scope, reserved: 0, spent: 0 };
        total.reserved += reservation.nanos;
        total.spent += spentNanos;
        totals.set(key, total);
      }
    }
    const keys = [...totals.keys()].sort();
    let outcome: StatementsOutcome;
    try {
      const now = this.clock.now().toISOString();
      outcome = await this.db.appendStatements(
        keys.map((key) => [
          this.held
            ? this.addSpendStatement(totals.get(key)!, now)
            : this.adjustStatement(totals.get(key)!, now),
        ]),
        false,
      );
    } catch (error) {
      // Whether any of it was written is unknown: read the spend again.
      this.forgetSpend();
      if (this.held) {
        // SQLite: the transaction rolled back and the spend is still counted in memory;
        // a later attempt writes it rather than lose it.
        this.failedWrites++;
        const delay = Math.min(30_000, SQLITE_SETTLEMENT_DELAY_MS * 2 ** this.failedWrites);
        this.logger.error(
          `writing ${batch.length} budget settlement(s) failed, retrying in ${delay} ms: ${String(error)}`,
        );
        this.settlements = [...batch, ...this.settlements];
        setTimeout(() => void this.flush(), delay);
        return;
      }
      batch.forEach(({ done }) => done.reject(error));
      return;
    }
    this.failedWrites = 0;
    const after = new Map<string, SpendRow>();
    if (outcome.committed) {
      // A row deleted meanwhile (its organization was) answers nothing: zero spend.
      keys.forEach((key, i) => {
        after.set(key, toRow(outcome.rows[i][0]) ?? { spentNanos: 0, reservedNanos: 0 });
      });
    }
    this.learnSpend(after);
    if (this.held) {
      // Written: that spend is in the committed rows the memo now holds.
      for (const [key, total] of totals) {
        const h = this.held.get(key);
        if (h) {
          h.unwritten -= total.spent;
          this.pruneHeld(key, h);
        }
      }
    }
    for (const { reservation, done } of batch) {
      done.resolve(
        reservation.scopes.map(
          (scope) =>
            after.get(keyOfScope(scope)) ?? {
              spentNanos: 0,
              reservedNanos: 0,
            },
        ),
      );
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
      const key = keyOfScope(scope);
      const known = this.knownSpend?.get(key);
      if (known === undefined) {
        missing.push(scope);
      } else {
        out.set(key, known + (this.held?.get(key)?.unwritten ?? 0));
      }
    }
    if (missing.length === 0) {
      return out;
    }
    const generation = this.spendGeneration;
    const rows = await this.readRows(missing);
    for (const scope of missing) {
      const key = keyOfScope(scope);
      const spent = rows.get(key)?.spentNanos ?? 0;
      if (this.knownSpend && generation === this.spendGeneration) {
        this.remember(key, spent);
      }
      out.set(key, spent + (this.held?.get(key)?.unwritten ?? 0));
    }
    return out;
  }

  /**
   * Each scope's spend and reservations (scopes with neither are absent from the map): the
   * rows as committed, plus on SQLite what this process holds in memory.
   */
  async read(scopes: SpendScope[]): Promise<Map<string, SpendRow>> {
    const out = await this.readRows(scopes);
    if (this.held) {
      for (const scope of scopes) {
        const key = keyOfScope(scope);
        const h = this.held.get(key);
        if (h) {
          const row = out.get(key) ?? { spentNanos: 0, reservedNanos: 0 };
          out.set(key, {
            spentNanos: row.spentNanos + h.unwritten,
            reservedNanos: row.reservedNanos + h.reserved,
          });
        }
      }
    }
    return out;
  }

  /** Committed rows of some scopes (missing rows are absent from the map), read outside writes. */
  private async readRows(scopes: SpendScope[]): Promise<Map<string, SpendRow>> {
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
   * Queues a settlement, written in one transaction with every other settlement queued
   * meanwhile, off the answers' path. PostgreSQL: at the end of this turn of the event loop
   * (the reservation it releases is in the table, where other replicas check against it).
   * SQLite: within SQLITE_SETTLEMENT_DELAY_MS, the spend counted in memory until then: one
   * transaction per turn was one per call at a hundred calls in flight, and a transaction
   * costs more than the rest of the budget's work on a call.
   */
  private queue(reservation: HeldReservation, spentNanos: number): Promise<SpendRow[]> {
    return new Promise<SpendRow[]>((resolve, reject) => {
      this.settlements.push({ reservation, spentNanos, done: { resolve, reject } });
      if (this.settlements.length === 1) {
        if (this.held) {
          setTimeout(() => void this.flush(), SQLITE_SETTLEMENT_DELAY_MS);
        } else {
          setImmediate(() => void this.flush());
        }
      }
    });
  }

  /**
   * SQLite: adds settled spend to a scope's row, creating the row for the period's first
   * settlement (reservations live in memory there), unless its organization is gone.
   */
  private addSpendStatement(
    total: { scope: SpendScope; spent: number },
    now: string,
  ): BoundStatement {
    const { scope } = total;
    return bind(
      this.db.kind,
      'INSERT INTO budget_spend (organization_id, user_id, period_start, spent_nanos, reserved_nanos, updated_at) ' +
        'SELECT $1, $2, $3, $4, 0, $5 WHERE EXISTS (SELECT 1 FROM organizations WHERE id = $1) ' +
        'ON CONFLICT (organization_id, user_id, period_start) DO UPDATE SET ' +
        'spent_nanos = spent_nanos + excluded.spent_nanos, updated_at = excluded.updated_at ' +
        'RETURNING spent_nanos, reserved_nanos',
      [scope.organizationId, scope.userId, scope.periodStart, total.spent, now],
    );
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

/** The key of a scope's spend (scopeKey of its three parts). */
export function keyOfScope(scope: SpendScope): string {
  return scopeKey(scope.organizationId, scope.userId, scope.periodStart);
}
