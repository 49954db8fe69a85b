import { Column, Entity, PrimaryColumn } from 'typeorm';

export const USAGE_STATUSES = ['ok', 'error', 'aborted'] as const;
export type UsageStatus = (typeof USAGE_STATUSES)[number];

/** One call forwarded upstream by the gateway: who, which model, what it cost, how it went. */
@Entity('usage_events')
export class UsageEventEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 64 })
  organizationId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 255 })
  userId: string;

  @Column({ name: 'model_id', type: 'varchar', length: 255 })
  modelId: string;

  @Column({ name: 'openrouter_user', type: 'varchar', length: 128 })
  openrouterUser: string;

  /** chat.completions, completions or embeddings. */
  @Column({ type: 'varchar', length: 32 })
  endpoint: string;

  @Column({ name: 'generation_id', type: 'varchar', length: 255, nullable: true })
  generationId: string | null;

  @Column({ type: 'varchar', length: 16 })
  status: UsageStatus;

  @Column({ name: 'http_status', type: 'integer' })
  httpStatus: number;

  @Column({ name: 'prompt_tokens', type: 'integer', nullable: true })
  promptTokens: number | null;

  @Column({ name: 'completion_tokens', type: 'integer', nullable: true })
  completionTokens: number | null;

  @Column({ name: 'cost_usd', type: 'double precision', nullable: true })
  costUsd: number | null;

  @Column({ name: 'latency_ms', type: 'integer' })
  latencyMs: number;

  @Column({ name: 'ttft_ms', type: 'integer', nullable: true })
  ttftMs: number | null;

  @Column({ type: 'boolean' })
  streamed: boolean;

  @Column({ name: 'request_id', type: 'varchar', length: 128 })
  requestId: string;
}
