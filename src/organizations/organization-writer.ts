import { EntityManager } from 'typeorm';
import { OrganizationEntity } from './entities/organization.entity';

/** What a new organization is made of; everything else starts at its default. */
export interface NewOrganization {
  id: string;
  name: string;
  externalUser: string;
  autoGrantNewModels?: boolean;
  emailDomains?: string[];
  /** Creation time (ISO 8601), also its first update time. */
  at: string;
}

/** Why a new organization was not inserted: the organization already holding the key. */
export interface OrganizationConflict {
  conflict: 'id' | 'external_user';
  holder: OrganizationEntity;
}

/**
 * The one writer of new organizations, shared by the API, the boot seed and the migration
 * tool (inside their own db.write transaction, each recording its own audit event): checks
 * that neither the id nor the external_user is taken, then inserts the row with every
 * column's default. A new column gets its default here, once.
 */
export async function insertOrganization(
  tx: EntityManager,
  input: NewOrganization,
): Promise<OrganizationEntity | OrganizationConflict> {
  const repo = tx.getRepository(OrganizationEntity);
  const sameId = await repo.findOne({ where: { id: input.id } });
  if (sameId) {
    return { conflict: 'id', holder: sameId };
  }
  // external_user values that differ only by case are one value (OpenRouter's user tag)
  const sameExternalUser = await repo
    .createQueryBuilder('o')
    .where('LOWER(o.external_user) = :value', { value: input.externalUser.toLowerCase() })
    .getOne();
  if (sameExternalUser) {
    return { conflict: 'external_user', holder: sameExternalUser };
  }
  const entity = repo.create({
    id: input.id,
    name: input.name,
    externalUser: input.externalUser,
    isActive: true,
    autoGrantNewModels: input.autoGrantNewModels ?? false,
    emailDomains: input.emailDomains ?? [],
    createdAt: input.at,
    updatedAt: input.at,
  });
  await repo.insert(entity);
  return entity;
}
