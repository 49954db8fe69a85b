import { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { Page } from './pagination.dto';

/**
 * One page of a filtered list and the count of every matching row, ordered by one column
 * (a unique one, so pages never overlap); `map` turns the page's entities into responses.
 */
export async function paginate<E extends ObjectLiteral, R>(
  qb: SelectQueryBuilder<E>,
  page: { limit: number; offset: number },
  orderBy: [column: string, direction: 'ASC' | 'DESC'],
  map: (rows: E[]) => R[] | Promise<R[]>,
): Promise<Page<R>> {
  const [rows, total] = await qb
    .orderBy(orderBy[0], orderBy[1])
    .skip(page.offset)
    .take(page.limit)
    .getManyAndCount();
  return { data: await map(rows), limit: page.limit, offset: page.offset, total };
}

/** A case-folded `%text%` LIKE pattern with its wildcards escaped (use with ESCAPE '\'). */
export function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
