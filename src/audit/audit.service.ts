import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { Principal } from '../auth/principal';
import { now } from '../common/time';
import { DatabaseService } from '../database/database.service';
import { Page } from '../common/pagination.dto';
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

  async record(tx: EntityManager, actor: Principal | string, record: AuditRecord): Promise<void> {
    await tx.getRepository(AuditEventEntity).insert({
      actor: typeof actor === 'string' ? actor : actor.actor,
      action: record.action,
      targetType: record.targetType,
      targetId: record.targetId,
      before:
        record.before === undefined || record.before === null
          ? null
          : JSON.stringify(record.before),
      after:
        record.after === undefined || record.after === null ? null : JSON.stringify(record.after),
      createdAt: now(),
    });
  }

  async list(query: AuditQuery): Promise<Page<AuditEventResponse>> {
    return this.db.read(async (m) => {
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
        qb.andWhere('a.created_at >= :since', { since: new Date(query.since).toISOString() });
      }
      if (query.until !== undefined) {
        qb.andWhere('a.created_at < :until', { until: new Date(query.until).toISOString() });
      }
      const [rows, total] = await qb
        .orderBy('a.id', 'DESC')
        .skip(query.offset)
        .take(query.limit)
        .getManyAndCount();
      return {
        data: rows.map(toAuditEventResponse),
        limit: query.limit,
        offset: query.offset,
        total,
      };
    });
  }
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
