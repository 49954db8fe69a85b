import { Column, Entity } from 'typeorm';
import { FlagColumn, ModelIdColumn, NameColumn, TimestampColumn } from '../../common/columns';

@Entity('models')
export class ModelEntity {
  @ModelIdColumn({ primary: true, name: 'id' })
  id: string;

  @NameColumn()
  name: string;

  @Column({ name: 'base_model_id', type: 'varchar', length: 255, nullable: true })
  baseModelId: string | null;

  @FlagColumn('is_active')
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

  @TimestampColumn('created_at')
  createdAt: string;

  @TimestampColumn('updated_at')
  updatedAt: string;
}
