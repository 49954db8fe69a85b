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

/**
 * A list's equality filters: `column = value` for each filter the query sets; an undefined
 * value (a query parameter not sent) filters nothing. Columns are the code's own, never input.
 */
export function whereEqual<E extends ObjectLiteral>(
  qb: SelectQueryBuilder<E>,
  filters: Record<string, string | number | boolean | undefined>,
): SelectQueryBuilder<E> {
  Object.entries(filters).forEach(([column, value], i) => {
    if (value !== undefined) {
      qb.andWhere(`${column} = :filter${i}`, { [`filter${i}`]: value });
    }
  });
  return qb;
}

/**
 * A list's search: rows where any of `columns` holds `text` as a case-insensitive substring
 * (LIKE wildcards in the text match themselves); no text, or an empty one, filters nothing.
 */
export function whereContains<E extends ObjectLiteral>(
  qb: SelectQueryBuilder<E>,
  columns: string[],
  text: string | undefined,
): SelectQueryBuilder<E> {
  if (text !== undefined && text !== '') {
    const tests = columns.map((column) => `LOWER(${column}) LIKE :search ESCAPE '\\'`);
    qb.andWhere(`(${tests.join(' OR ')})`, { search: likePattern(text) });
  }
  return qb;
}

/** A case-folded `%text%` LIKE pattern with its wildcards escaped (use with ESCAPE '\'). */
export function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
