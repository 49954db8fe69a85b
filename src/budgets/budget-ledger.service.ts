import { Inject, Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { DatabaseService } from '../database/database.service';
import { Clock, CLOCK } from './clock';

/** The '' user of budget_spend: the organization's own row. */
export const ORGANIZATION_ROW = '';

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

export type ReserveResult =
  { held: true; reservation: HeldReservation } | { held: false; refusedBy: SpendScope };

/**
 * `$n` placeholders as each driver wants them (SQLite: `?`, repeated values repeated,
 * booleans as 0/1).
 */
export function bind(
  kind: 'sqlite' | 'postgres',
  sql: string,
  params: unknown[],
): [string, unknown[]] {
  if (kind === 'postgres') {
    return [sql, params];
  }
  const ordered: unknown[] = [];
  const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
    const value = params[Number(n) - 1];
    ordered.push(typeof value === 'boolean' ? Number(value) : value);
    return '?';
  });
  return [text, ordered];
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
 * without a row gets one (INSERT ... ON CONFLICT DO NOTHING) and the UPDATE runs again.
 * Settling moves a reservation into spend at the actual cost; releasing gives it back.
 * Writes here change no cached access answer (the rule reads spend live).
 */
@Injectable()
export class BudgetLedgerService {
  constructor(
    private readonly db: DatabaseService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Holds `nanos` on every scope, all or none (one transaction). */
  async reserve(scopes: SpendScope[], nanos: number): Promise<ReserveResult> {
    return this.db
      .append(async (tx): Promise<ReserveResult> => {
        for (const scope of scopes) {
          if (!(await this.holdOne(tx, scope, nanos))) {
            // Throwing rolls back what the scopes before this one held.
            throw new NotHeld(scope);
          }
        }
        return { held: true, reservation: { scopes, nanos } };
      })
      .catch((error: unknown) => {
        if (error instanceof NotHeld) {
          return { held: false, refusedBy: error.scope };
        }
        throw error;
      });
  }

  /**
   * Turns a reservation into spend at the actual cost. Answers each scope's row after the
   * change (for alerts), in the order of the reservation's scopes.
   */
  async settle(reservation: HeldReservation, actualNanos: number): Promise<SpendRow[]> {
    return this.adjust(reservation, Math.max(0, Math.round(actualNanos)));
  }

  /** Gives a reservation back unspent (the call failed or was aborted before any cost). */
  async release(reservation: HeldReservation): Promise<void> {
    await this.adjust(reservation, 0);
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
    const [sql, bound] = bind(
      this.db.kind,
      'SELECT organization_id, user_id, period_start, spent_nanos, reserved_nanos ' +
        `FROM budget_spend WHERE ${conditions.join(' OR ')}`,
      params,
    );
    const rows = await this.db.read((m) => m.query<Record<string, unknown>[]>(sql, bound));
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

  private async holdOne(tx: EntityManager, scope: SpendScope, nanos: number): Promise<boolean> {
    const limit = scope.userId === ORGANIZATION_ROW ? LIMIT_OF_ORGANIZATION : LIMIT_OF_MEMBER;
    const update = bind(
      this.db.kind,
      'UPDATE budget_spend SET reserved_nanos = reserved_nanos + $4, updated_at = $5 ' +
        'WHERE organization_id = $1 AND user_id = $2 AND period_start = $3 ' +
        `AND spent_nanos + reserved_nanos + $4 <= ${limit} ` +
        'RETURNING spent_nanos, reserved_nanos',
      [
        scope.organizationId,
        scope.userId,
        scope.periodStart,
        nanos,
        this.clock.now().toISOString(),
      ],
    );
    if (returnedRows(await tx.query(...update)).length > 0) {
      return true;
    }
    // No row for this period yet, or the call does not fit. Create the row if missing
    // (a concurrent creator wins harmlessly) and ask once more.
    const insert = bind(
      this.db.kind,
      'INSERT INTO budget_spend (organization_id, user_id, period_start, spent_nanos, reserved_nanos, updated_at) ' +
        'VALUES ($1, $2, $3, 0, 0, $4) ON CONFLICT DO NOTHING',
      [scope.organizationId, scope.userId, scope.periodStart, this.clock.now().toISOString()],
    );
    await tx.query(...insert);
    return returnedRows(await tx.query(...update)).length > 0;
  }

  private async adjust(reservation: HeldReservation, spentNanos: number): Promise<SpendRow[]> {
    return this.db.append(async (tx) => {
      const rows: SpendRow[] = [];
      for (const scope of reservation.scopes) {
        const statement = bind(
          this.db.kind,
          'UPDATE budget_spend SET reserved_nanos = reserved_nanos - $4, ' +
            'spent_nanos = spent_nanos + $5, updated_at = $6 ' +
            'WHERE organization_id = $1 AND user_id = $2 AND period_start = $3 ' +
            'RETURNING spent_nanos, reserved_nanos',
          [
            scope.organizationId,
            scope.userId,
            scope.periodStart,
            reservation.nanos,
            spentNanos,
            this.clock.now().toISOString(),
          ],
        );
        const row = toRow(returnedRows(await tx.query(...statement))[0]);
        rows.push(row ?? { spentNanos: 0, reservedNanos: 0 });
      }
      return rows;
    });
  }
}

export function scopeKey(organizationId: string, userId: string, periodStart: string): string {
  return `${organizationId}\u0000${userId}\u0000${periodStart}`;
}

class NotHeld extends Error {
  constructor(readonly scope: SpendScope) {
    super('not held');
  }
}
