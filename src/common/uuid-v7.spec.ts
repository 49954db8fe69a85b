import { uuidV7 } from './uuid-v7';

describe('uuidV7', () => {
  it('is a UUID of version 7 and variant 10, its time in the first 48 bits', () => {
    const at = Date.UTC(2026, 11, 1, 12, 30, 45, 678);
    const id = uuidV7(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
  });

  it('sorts ids of later milliseconds after earlier ones, and differs within one', () => {
    const start = Date.UTC(2026, 0, 1);
    const ids = Array.from({ length: 600 }, (_, i) => uuidV7(start + Math.floor(i / 3)));
    for (let i = 3; i < ids.length; i += 3) {
      expect(ids[i] > ids[i - 1]).toBe(true);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});
