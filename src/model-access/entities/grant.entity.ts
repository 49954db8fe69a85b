import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A model granted to an organization: an exact catalog id or a prefix pattern ending in `*`. */
@Entity('organization_models')
export class GrantEntity {
  @PrimaryColumn({ name: 'organization_id', type: 'varchar', length: 64 })
  organizationId: string;

  @PrimaryColumn({ name: 'model_id', type: 'varchar', length: 255 })
  modelId: string;

  @Column({ name: 'is_active', type: 'boolean' })
  isActive: boolean;

  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;

  @Column({ name: 'updated_at', type: 'varchar', length: 32 })
  updatedAt: string;
}
