import { DataSource } from 'typeorm';
import { HotQuery, hotSql } from '../../src/model-access/hot-queries';

/** How the database plans one hot query. */
export interface PlanReport {
  query: string;
  table: string;
  /** True when the plan reads the table through an index and never scans it whole. */
  usesIndex: boolean;
  /** Indexes the plan uses on the table. */
  indexes: string[];
  /** True when one of them is an index the query is meant to use. */
  expectedIndex: boolean;
  /** The plan as the database printed it (SQLite detail lines, or PostgreSQL node summary). */
  plan: string;
}

/** Sample parameters: any value will do, the plan depends on the shape of the query. */
export function sampleParams(query: HotQuery, n = 3): string[] {
  return Array.from({ length: query.sql(n).match(/\$\d+/g)?.length ?? 0 }, (_, i) => `x${i}`);
}

function isPrimaryKeyIndex(name: string, table: string): boolean {
  return (
    name === 'PRIMARY KEY' ||
    name.startsWith(`sqlite_autoindex_${table}_`) ||
    name.startsWith('PK_') ||
    name.endsWith('_pkey')
  );
}

function expected(query: HotQuery, used: string[]): boolean {
  return used.some((name) =>
    query.indexes.some((want) =>
      want === 'primary key' ? isPrimaryKeyIndex(name, query.table) : want === name,
    ),
  );
}

/**
 * Reads the plan of a hot query from the database itself: EXPLAIN QUERY PLAN on SQLite,
 * EXPLAIN (FORMAT JSON) on PostgreSQL. With `forceIndexes` (PostgreSQL only) the session
 * sets enable_seqscan = off first: on small tables the planner rightly prefers a
 * sequential scan, so this asks whether an index CAN serve the query, not whether it is
 * chosen at the current size.
 */
export async function explainHotQuery(
  dataSource: DataSource,
  query: HotQuery,
  options: { forceIndexes?: boolean; n?: number } = {},
): Promise<PlanReport> {
  const postgres = dataSource.options.type === 'postgres';
  const sql = hotSql(query, postgres ? 'postgres' : 'sqlite', options.n ?? 3);
  const params = sampleParams(query, options.n ?? 3);
  const runner = dataSource.createQueryRunner();
  try {
    if (!postgres) {
      const rows = (await runner.query(`EXPLAIN QUERY PLAN ${sql}`, params)) as {
        detail: string;
      }[];
      const names = new Set([query.table, query.alias].filter((n): n is string => Boolean(n)));
      const lines = rows.map((r) => r.detail);
      const mine = lines.filter((line) => {
        const m = /^(?:SCAN|SEARCH) (\S+)/.exec(line);
        return m !== null && names.has(m[1]);
      });
      const indexes = mine
        .map((line) => /USING (?:COVERING )?INDEX (\S+)|USING (INTEGER )?PRIMARY KEY/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => m[1] ?? 'PRIMARY KEY');
      const usesIndex = mine.length > 0 && mine.every((line) => line.startsWith('SEARCH'));
      return {
        query: query.name,
        table: query.table,
        usesIndex,
        indexes,
        expectedIndex: expected(query, indexes),
        plan: lines.join(' | '),
      };
    }
    if (options.forceIndexes) {
      await runner.query('SET enable_seqscan = off');
    }
    const result = (await runner.query(`EXPLAIN (FORMAT JSON) ${sql}`, params)) as {
      'QUERY PLAN': unknown;
    }[];
    const raw = result[0]['QUERY PLAN'];
    const root = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PgPlanNode }[];
    const indexes: string[] = [];
    let seqScan = false;
    const summary: string[] = [];
    const walk = (node: PgPlanNode, underTable: boolean): void => {
      const onTable = node['Relation Name'] === query.table;
      summary.push(
        `${node['Node Type']}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}`,
      );
      if (onTable && node['Node Type'] === 'Seq Scan') {
        seqScan = true;
      }
      if ((onTable || underTable) && node['Index Name']) {
        indexes.push(node['Index Name']);
      }
      for (const child of node.Plans ?? []) {
        walk(child, onTable && node['Node Type'] === 'Bitmap Heap Scan');
      }
    };
    walk(root[0].Plan, false);
    return {
      query: query.name,
      table: query.table,
      usesIndex: !seqScan && indexes.length > 0,
      indexes,
      expectedIndex: expected(query, indexes),
      plan: summary.join(' > '),
    };
  } finally {
    if (postgres && options.forceIndexes) {
      await runner.query('RESET enable_seqscan').catch(() => undefined);
    }
    await runner.release();
  }
}

interface PgPlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PgPlanNode[];
}
