import { href, parseRoute, Route } from './router';

describe('console routes', () => {
  it.each<[string, Route]>([
    ['/admin', { name: 'organizations' }],
    ['/admin/', { name: 'organizations' }],
    ['/admin/organizations', { name: 'organizations' }],
    ['/admin/organizations/acme', { name: 'organization', id: 'acme', tab: 'members' }],
    ['/admin/organizations/acme/grants', { name: 'organization', id: 'acme', tab: 'grants' }],
    ['/admin/users/ada%40acme.pl', { name: 'user', id: 'ada@acme.pl' }],
    ['/admin/users/a%2Fb', { name: 'user', id: 'a/b' }],
    ['/admin/models', { name: 'models' }],
    ['/admin/audit', { name: 'audit' }],
    ['/admin/sign-in', { name: 'sign-in' }],
  ])('parses %s', (path, route) => {
    expect(parseRoute(path)).toEqual(route);
  });

  it.each([
    '/admin/organizations/acme/nope',
    '/admin/nope',
    '/admin/users/a/b',
    '/other',
    '/admin/users/%E0%A4%A',
  ])('answers not-found for %s', (path) => {
    expect(parseRoute(path).name).toBe('not-found');
  });

  it('round-trips ids through href', () => {
    const routes: Route[] = [
      { name: 'organization', id: 'acme', tab: 'usage' },
      { name: 'organization', id: 'acme', tab: 'members' },
      { name: 'user', id: 'x/y z@q' },
      { name: 'models' },
    ];
    for (const route of routes) {
      expect(parseRoute(href(route))).toEqual(route);
    }
  });
});
