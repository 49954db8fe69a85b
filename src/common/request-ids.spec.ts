import { REQUEST_ID, requestIdOf } from './request-ids';

describe('requestIdOf', () => {
  it("keeps the caller's id when it is plausible", () => {
    expect(requestIdOf({ 'x-request-id': 'trace-abc_1.2:3' })).toBe('trace-abc_1.2:3');
  });

  it('makes a new id for a missing, empty, too long, repeated or odd one', () => {
    for (const given of [undefined, '', 'x'.repeat(129), 'has space', 'ünïcode', '<script>']) {
      const id = requestIdOf({ 'x-request-id': given });
      expect(id).not.toBe(given);
      expect(id).toMatch(/^[0-9a-f]{16}-[0-9a-z]+$/);
    }
    expect(requestIdOf({ 'x-request-id': ['a', 'b'] as unknown as string })).toMatch(
      /^[0-9a-f]{16}-/,
    );
  });

  it('never makes the same id twice, and each would be kept if sent back', () => {
    const ids = Array.from({ length: 50_000 }, () => requestIdOf({}));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => !REQUEST_ID.test(id))).toEqual([]);
    expect(new Set(ids.map((id) => id.split('-')[0])).size).toBe(1);
  });
});
