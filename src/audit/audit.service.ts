import { Injectable } from '@nestjs/common';
import { EntityManager, In } from 'typeorm';
import { Principal } from '../auth/principal';
import { now } from '../common/time';
import { parseTimestamp } from '../common/validators';
import { DatabaseService } from '../database/database.service';
import { Page } from '../common/pagination.dto';
import { paginate } from '../common/listing';
import { AuditQuery } from './dto/audit-query.dto';
import { AuditEventResponse } from './dto/audit-event.response';
import { AuditEventEntity } from './entities/audit-event.entity';

/**
 * Most ids a bulk event lists (`..._sample`), the first that changed; its counts say how
 * many there were. A request that changes nothing writes no event at all.
 */
export const AUDIT_ID_SAMPLE = 20;

export interface AuditRecord {
  action: string;
  targetType: 'user' | 'model' | 'organization' | 'membership' | 'grant';
  targetId: string;
  before?: unknown;
  after?: unknown;
}

/** Appends audit events inside the caller's transaction, and lists them. */
@Injectable()
export class AuditService {
  constructor(private readonly db: DatabaseService) {}

  /**
   * Adds an event to the write `tx` belongs to. It is inserted as the write's last statement
   * (DatabaseService.insertAtCommit: on PostgreSQL together with the write's announcement),
   * so it commits or rolls back with the write and costs it no round trip of its own.
   */
  record(tx: EntityManager, actor: Principal | string, record: AuditRecord): Promise<void> {
    const column = (property: keyof AuditEventEntity): string =>
      tx.connection.getMetadata(AuditEventEntity).findColumnWithPropertyName(property)!
        .databaseName;
    const json = (value: unknown): string | null =>
      value === undefined || value === null ? null : JSON.stringify(value);
    this.db.insertAtCommit(tx, tx.connection.getMetadata(AuditEventEntity).tableName, {
      [column('actor')]: typeof actor === 'string' ? actor : actor.actor,
      [column('action')]: record.action,
      [column('targetType')]: record.targetType,
      [column('targetId')]: record.targetId,
      [column('before')]: json(record.before),
      [column('after')]: json(record.after),
      [column('createdAt')]: now(),
    });
    return Promise.resolve();
  }

  async list(query: AuditQuery): Promise<Page<AuditEventResponse>> {
    return this.db.read(async (m) => {
      const qb = this.filtered(m, query);
      return paginate(qb, query, ['a.id', 'DESC'], (rows) => rows.map(toAuditEventResponse));
    });
  }

  /**
   * Every event matching the filters as CSV, newest first, read in chunks of
   * CSV_CHUNK rows (keyset on id) so an export never holds the whole log in memory.
   */
  async *csv(query: AuditQuery): AsyncGenerator<string> {
    yield `${CSV_COLUMNS.join(',')}\r\n`;
    let below: number | null = null;
    for (;;) {
      const rows: AuditEventEntity[] = await this.db.read((m) => {
        const qb = this.filtered(m, query);
        if (below !== null) {
          qb.andWhere('a.id < :below', { below });
        }
        return qb.orderBy('a.id', 'DESC').take(CSV_CHUNK).getMany();
      });
      if (rows.length === 0) {
        return;
      }
      yield rows.map((e) => `${csvRow(e)}\r\n`).join('');
      below = rows[rows.length - 1].id;
      if (rows.length < CSV_CHUNK) {
        return;
      }
    }
  }

  private filtered(m: EntityManager, query: AuditQuery) {
    const qb = m.getRepository(AuditEventEntity).createQueryBuilder('a');
    if (query.actor !== undefined) {
      qb.andWhere('a.actor = :actor', { actor: query.actor });
    }
    if (query.target_type !== undefined) {
      qb.andWhere('a.target_type = :targetType', { targetType: query.target_type });
    }
    if (query.target_id !== undefined) {
      qb.andWhere('a.target_id = :targetId', { targetId: query.target_id });
    }
    if (query.action !== undefined) {
      qb.andWhere('a.action = :action', { action: query.action });
    }
    if (query.since !== undefined) {
      qb.andWhere('a.created_at >= :since', {
        since: parseTimestamp(query.since)!.toISOString(),
      });
    }
    if (query.until !== undefined) {
      qb.andWhere('a.created_at < :until', { until: parseTimestamp(query.until)!.toISOString() });
    }
    return qb;
  }

  /**
   * Deletes events older than the cutoff in batches of `batch` rows, each its own short
   * transaction (so a prune never holds the write lock for long); returns how many went.
   */
  async prune(olderThan: Date, batch = PRUNE_BATCH, maxBatches = Infinity): Promise<number> {
    const cutoff = olderThan.toISOString();
    let deleted = 0;
    for (let i = 0; i < maxBatches; i++) {
      const n = await this.db.write(async (tx) => {
        const ids = (
          await tx
            .getRepository(AuditEventEntity)
            .createQueryBuilder('a')
            .select('a.id', 'id')
            .where('a.created_at < :cutoff', { cutoff })
            .orderBy('a.created_at', 'ASC')
            .limit(batch)
            .getRawMany<{ id: number | string }>()
        ).map((r) => Number(r.id));
        if (ids.length > 0) {
          await tx.getRepository(AuditEventEntity).delete({ id: In(ids) });
        }
        return ids.length;
      });
      deleted += n;
      if (n < batch) {
        break;
      }
      // let requests waiting for the write lock in between batches
      await new Promise((resolve) => setImmediate(resolve));
    }
    return deleted;
  }
}

const CSV_COLUMNS = [
  'id',
  'created_at',
  'actor',
  'action',
  'target_type',
  'target_id',
  'before',
  'after',
] as const;
const CSV_CHUNK = 1000;
export const PRUNE_BATCH = 500;

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; a field a
 * spreadsheet would run as a formula (= + - @, tab, CR) gets a leading apostrophe.
 */
function csvField(value: string | number | null): string {
  let text = value === null ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) {
    text = `'${text}`;
  }
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRow(e: AuditEventEntity): string {
  return [e.id, e.createdAt, e.actor, e.action, e.targetType, e.targetId, e.before, e.after]
    .map(csvField)
    .join(',');
}

function parse(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

export function toAuditEventResponse(e: AuditEventEntity): AuditEventResponse {
  return {
    id: e.id,
    actor: e.actor,
    action: e.action,
    target_type: e.targetType,
    target_id: e.targetId,
    before: parse(e.before),
    after: parse(e.after),
    created_at: e.createdAt,
  };
}
