import { decodeChanges, encodeChanges, NOTIFY_PAYLOAD_LIMIT } from './change-message';
import { TableChange } from './database.service';

describe('change notifications', () => {
  const instance = '0f8e2c1a-7d4b-4f0e-9a51-2b3c4d5e6f70';
  const send = (tables: TableChange[]) => `48213 ${encodeChanges(instance, tables)}`;

  it('names the tables and rows written, and reads back what was sent', () => {
    const tables: TableChange[] = [
      { table: 'organization_members', rows: { column: 'user_id', keys: ['u-1', 'ü "2"'] } },
      { table: 'audit_events' },
    ];
    expect(decodeChanges(send(tables))).toEqual({ revision: 48213n, instanceId: instance, tables });
  });

  it('sends the tables alone when the keys do not fit, and everything when the tables do not', () => {
    const keys = Array.from({ length: 400 }, (_, i) => `user-${i}-${'x'.repeat(20)}`);
    const many = send([
      { table: 'organization_members', rows: { column: 'user_id', keys } },
      { table: 'audit_events' },
    ]);
    expect(Buffer.byteLength(many)).toBeLessThan(NOTIFY_PAYLOAD_LIMIT);
    expect(decodeChanges(many)!.tables).toEqual([
      { table: 'organization_members' },
      { table: 'audit_events' },
    ]);
    const tables = Array.from({ length: 400 }, (_, i) => ({
      table: `table_${i}_${'y'.repeat(20)}`,
    }));
    expect(decodeChanges(send(tables))!.tables).toEqual([{ table: '*' }]);
  });

  it('counts bytes, not characters', () => {
    const keys = Array.from({ length: 300 }, (_, i) => `${i}-ééééééééé`); // 2 bytes each é
    const payload = send([{ table: 'organization_members', rows: { column: 'user_id', keys } }]);
    expect(Buffer.byteLength(payload)).toBeLessThan(8000);
  });

  it('a text it cannot read means everything; one it does not know is null', () => {
    expect(decodeChanges(`12 ${instance} not json`)!.tables).toEqual([{ table: '*' }]);
    expect(decodeChanges(`12 ${instance} [["t", 1]]`)!.tables).toEqual([{ table: '*' }]);
    expect(decodeChanges(instance)).toBeNull();
    expect(decodeChanges('')).toBeNull();
  });
});
