/** What each reason of the access check means, for a person reading a refusal. */
export const REASONS: Record<string, string> = {
  granted:
    'Allowed: an active membership in an active organization with an active grant covers this active model.',
  user_not_found: 'No such user: the web UI has not sent this user to the service yet.',
  user_pending: 'The user is pending approval in the web UI and may use nothing until approved.',
  model_not_found: 'The model is not in the catalog.',
  model_inactive: 'The model is deactivated in the catalog, so nobody may use it.',
  no_membership: 'The user belongs to no organization.',
  membership_inactive: 'Every membership of the user that could grant this model is suspended.',
  organization_inactive: 'The organizations of the user that could grant this model are archived.',
  grant_inactive:
    'The grant that covers this model is deactivated in every organization of the user.',
  no_grant:
    'None of the user’s organizations holds a grant (id or pattern) that covers this model.',
  budget_exhausted: 'The organization has spent its budget for this period.',
};

export function explainReason(reason: string): string {
  return REASONS[reason] ?? `Refused (${reason}).`;
}
