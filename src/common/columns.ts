import { Column, PrimaryColumn } from 'typeorm';
import { MODEL_ID_RULE, ORGANIZATION_ID_RULE_SPEC, USER_ID_RULE } from './validators';

/**
 * The column kinds every table shares, named once so that an entity says what a column holds
 * and a new one cannot drift from the others (or from what the API accepts). The migrations
 * in `migrations/` create the same types and lengths.
 */

/**
 * A moment, as ISO-8601 UTC text (`2026-11-28T17:13:03.123Z`): the same on SQLite and
 * PostgreSQL, and text order is time order.
 */
export const TimestampColumn = (name: string) => Column({ name, type: 'varchar', length: 32 });

/** A display name (of a user, an organization, a model): at most 255 characters, as the API accepts. */
export const NameColumn = () => Column({ type: 'varchar', length: 255 });

/** A yes/no column (`is_active`, ...). */
export const FlagColumn = (name: string) => Column({ name, type: 'boolean' });

interface IdColumnOptions {
  /** Part of the table's primary key. */
  primary?: boolean;
  /** The column's name when it is not the usual one (`organization_id`, `user_id`, `model_id`). */
  name?: string;
}

function idColumn(usualName: string, maxLength: number, options: IdColumnOptions) {
  const column = options.primary ? PrimaryColumn : Column;
  return column({ name: options.name ?? usualName, type: 'varchar', length: maxLength });
}

/** An organization id (slug), as long as the API accepts. */
export const OrganizationIdColumn = (options: IdColumnOptions = {}) =>
  idColumn('organization_id', ORGANIZATION_ID_RULE_SPEC.maxLength, options);

/** A web UI user id, as long as the API accepts. */
export const UserIdColumn = (options: IdColumnOptions = {}) =>
  idColumn('user_id', USER_ID_RULE.maxLength, options);

/** A catalog model id (or, in a grant, a prefix pattern), as long as the API accepts. */
export const ModelIdColumn = (options: IdColumnOptions = {}) =>
  idColumn('model_id', MODEL_ID_RULE.maxLength, options);
