import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('models')
export class ModelEntity {
  @PrimaryColumn({ type: 'varchar', length: 255 })
  id: string;

  @Column({ type: 'varchar', length: 255 })
  name: string;

  @Column({ name: 'base_model_id', type: 'varchar', length: 255, nullable: true })
  baseModelId: string | null;

  @Column({ name: 'is_active', type: 'boolean' })
  isActive: boolean;

  /** USD per prompt token (from the upstream's pricing.prompt), null when unknown. */
  @Column({ name: 'prompt_price_usd', type: 'double precision', nullable: true })
  promptPriceUsd: number | null;

  /** USD per completion token (from the upstream's pricing.completion), null when unknown. */
  @Column({ name: 'completion_price_usd', type: 'double precision', nullable: true })
  completionPriceUsd: number | null;

  @Column({ name: 'context_length', type: 'integer', nullable: true })
  contextLength: number | null;

  @Column({ name: 'max_completion_tokens', type: 'integer', nullable: true })
  maxCompletionTokens: number | null;

  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;

  @Column({ name: 'updated_at', type: 'varchar', length: 32 })
  updatedAt: string;
}
