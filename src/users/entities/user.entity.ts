import { Column, Entity } from 'typeorm';
import { NameColumn, TimestampColumn, UserIdColumn } from '../../common/columns';

export const USER_ROLES = ['pending', 'user', 'admin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

@Entity('users')
export class UserEntity {
  @UserIdColumn({ primary: true, name: 'id' })
  id: string;

  @NameColumn()
  name: string;

  @Column({ type: 'varchar', length: 320 })
  email: string;

  @Column({ type: 'varchar', length: 16 })
  role: UserRole;

  @TimestampColumn('created_at')
  createdAt: string;

  @TimestampColumn('updated_at')
  updatedAt: string;
}
