import { UserEntity } from '../users/entities/user.entity';
import { OrganizationEntity } from './entities/organization.entity';

/** The lowercase domain of an email address (after its last `@`). */
export function emailDomainOf(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * An organization's email domains cover a user: the user is not pending and the domain of
 * their email is one of the organization's (exact match; emails are not verified).
 */
export function domainCovers(
  organization: Pick<OrganizationEntity, 'emailDomains'>,
  user: Pick<UserEntity, 'email' | 'role'>,
): boolean {
  return user.role !== 'pending' && organization.emailDomains.includes(emailDomainOf(user.email));
}
