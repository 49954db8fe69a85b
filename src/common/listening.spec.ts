import { reusePortUnsupported } from './listening';

describe('reusePortUnsupported', () => {
  it.each([
    ['24.0.0', 'linux'],
    ['24.22.3', 'linux'],
    ['23.1.0', 'linux'],
    ['22.12.0', 'linux'],
    ['22.20.1', 'freebsd'],
  ])('shares the port on Node %s (%s)', (version, platform) => {
    expect(reusePortUnsupported(version, platform)).toBeNull();
  });

  it.each([
    ['20.20.2', 'linux', /Node 20\.20\.2 cannot share a port/],
    ['22.11.0', 'linux', /Node 22\.11\.0 cannot share a port/],
    ['23.0.0', 'linux', /Node 23\.0\.0 cannot share a port/],
    ['24.0.0', 'darwin', /not used on darwin/],
    ['24.0.0', 'win32', /not used on win32/],
  ])('says why not on Node %s (%s)', (version, platform, reason) => {
    expect(reusePortUnsupported(version, platform)).toMatch(reason);
  });
});
