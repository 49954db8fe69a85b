import { ArgumentMetadata } from '@nestjs/common';
import { IsString } from 'class-validator';
import { createValidationPipe, StrictValidationPipe } from './validation';

class Dto {
  @IsString()
  name!: string;
}

describe(StrictValidationPipe.name, () => {
  const sut = createValidationPipe() as StrictValidationPipe;

  const cases: [unknown, ArgumentMetadata][] = [
    ['u-1', { type: 'param', metatype: String, data: 'id' }],
    [{ id: 'u-1' }, { type: 'param', metatype: Object }],
    [
      { user_id: 'u', model_id: 'm' },
      { type: 'query', metatype: Object },
    ],
    [{ user_id: ['a', 'b'] }, { type: 'query', metatype: Object }],
    [{ constructor: 'x' }, { type: 'query', metatype: Object }],
    [{ kind: 'user' }, { type: 'custom', metatype: Object }],
    ['5', { type: 'query', metatype: Number, data: 'limit' }],
    ['true', { type: 'query', metatype: Boolean, data: 'active' }],
    [{ name: 'x' }, { type: 'query', metatype: Dto }],
    [{ name: 'x' }, { type: 'body', metatype: Object }],
  ];

  it('vouches for a value only when transform returns that very value', async () => {
    for (const [value, metadata] of cases) {
      if (sut.returnsUnchanged(value, metadata)) {
        await expect(sut.transform(value, metadata)).resolves.toBe(value);
      }
    }
  });

  it('vouches for the arguments of the access fast path', () => {
    expect(sut.returnsUnchanged('u-1', { type: 'param', metatype: String, data: 'id' })).toBe(true);
    expect(
      sut.returnsUnchanged({ user_id: 'u', model_id: 'm' }, { type: 'query', metatype: Object }),
    ).toBe(true);
    expect(sut.returnsUnchanged({ kind: 'user' }, { type: 'custom', metatype: Object })).toBe(true);
  });

  it('does not vouch for what it changes or may refuse', async () => {
    const refused: [unknown, ArgumentMetadata][] = [
      [{ constructor: 'x' }, { type: 'query', metatype: Object }],
      ['5', { type: 'query', metatype: Number, data: 'limit' }],
      [{ name: 'x' }, { type: 'query', metatype: Dto }],
      [{ name: 'x' }, { type: 'body', metatype: Object }],
      [5, { type: 'param', metatype: String, data: 'id' }],
    ];
    for (const [value, metadata] of refused) {
      expect(sut.returnsUnchanged(value, metadata)).toBe(false);
    }
    await expect(
      sut.transform({ constructor: 'x' }, { type: 'query', metatype: Object }),
    ).rejects.toThrow('property constructor should not exist');
  });
});
