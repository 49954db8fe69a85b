/** Metric names, shared by the service and the tests (Prometheus conventions: base units, _total). */
export const HTTP_REQUEST_DURATION = 'http_request_duration_seconds';
export const ACCESS_DECISIONS = 'access_decisions_total';
export const DATABASE_QUERY_DURATION = 'database_query_duration_seconds';
export const ORGANIZATIONS = 'organizations';
export const ORGANIZATION_MEMBERS = 'organization_members';
export const ORGANIZATION_GRANTS = 'organization_grants';

/** The route label of requests no route matched (never the raw path: unbounded cardinality). */
export const UNMATCHED_ROUTE = 'unmatched';

/** Budget gauges of active organizations with a budget (read at scrape time, see BudgetGauges). */
export const ORGANIZATION_BUDGET = 'organization_budget_usd';
export const ORGANIZATION_BUDGET_SPENT = 'organization_budget_spent_usd';
export const ORGANIZATION_BUDGET_RESETS = 'organization_budget_resets_timestamp_seconds';
