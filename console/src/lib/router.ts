/** The console's client-side routes under /admin (the server answers every one with the app). */

export const BASE = '/admin';

export type OrganizationTab = 'members' | 'grants' | 'usage' | 'settings';
export const ORGANIZATION_TABS: OrganizationTab[] = ['members', 'grants', 'usage', 'settings'];

export type Route =
  | { name: 'sign-in' }
  | { name: 'organizations' }
  | { name: 'organization'; id: string; tab: OrganizationTab }
  | { name: 'users' }
  | { name: 'user'; id: string }
  | { name: 'models' }
  | { name: 'audit' }
  | { name: 'not-found'; path: string };

/** The route of a location path (`/admin/organizations/acme/grants`). */
export function parseRoute(pathname: string): Route {
  if (pathname !== BASE && !pathname.startsWith(`${BASE}/`)) {
    return { name: 'not-found', path: pathname };
  }
  let segments: string[];
  try {
    segments = pathname
      .slice(BASE.length)
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
  } catch {
    return { name: 'not-found', path: pathname };
  }
  const [first, id, tab, ...rest] = segments;
  if (rest.length > 0) {
    return { name: 'not-found', path: pathname };
  }
  switch (first) {
    case undefined:
    case 'organizations':
      if (id === undefined) {
        return { name: 'organizations' };
      }
      if (tab === undefined || (ORGANIZATION_TABS as string[]).includes(tab)) {
        return { name: 'organization', id, tab: (tab as OrganizationTab | undefined) ?? 'members' };
      }
      break;
    case 'sign-in':
      if (id === undefined) {
        return { name: 'sign-in' };
      }
      break;
    case 'users':
      if (id === undefined) {
        return { name: 'users' };
      }
      if (tab === undefined) {
        return { name: 'user', id };
      }
      break;
    case 'models':
    case 'audit':
      if (id === undefined) {
        return { name: first };
      }
      break;
  }
  return { name: 'not-found', path: pathname };
}

/** The location path of a route; ids are URL-encoded, so `openai/gpt-4o` stays one segment. */
export function href(route: Route): string {
  const e = encodeURIComponent;
  switch (route.name) {
    case 'sign-in':
      return `${BASE}/sign-in`;
    case 'organizations':
      return `${BASE}/organizations`;
    case 'organization':
      return `${BASE}/organizations/${e(route.id)}${route.tab === 'members' ? '' : `/${route.tab}`}`;
    case 'users':
      return `${BASE}/users`;
    case 'user':
      return `${BASE}/users/${e(route.id)}`;
    case 'models':
      return `${BASE}/models`;
    case 'audit':
      return `${BASE}/audit`;
    case 'not-found':
      return route.path;
  }
}
