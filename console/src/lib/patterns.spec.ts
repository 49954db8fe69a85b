import { coveredModels, covers, grantTargetProblem, isPattern, previewSearch } from './patterns';

describe('grant patterns', () => {
  it.each([
    ['openai/*', null],
    ['openai/gpt-4o', null],
    ['anthropic/claude-3.5-sonnet:beta', null],
    ['', 'Enter a model id or a pattern such as openai/*.'],
    ['*', '"*" alone would grant every model; name a prefix such as openai/*.'],
    ['open*ai/*', 'A pattern has one * and only at the end (a prefix such as openai/*).'],
    ['openai/*-mini', 'A pattern has one * and only at the end (a prefix such as openai/*).'],
    [' openai/*', 'No spaces at the start or the end.'],
    ['openai/\u0007', 'Control characters are not allowed.'],
    ['x'.repeat(256), 'At most 255 characters.'],
  ])('judges %j as the server does', (target, problem) => {
    expect(grantTargetProblem(target)).toBe(problem);
  });

  it('covers by case-sensitive prefix for a pattern and by equality for an id', () => {
    expect(covers('openai/*', 'openai/gpt-4o')).toBe(true);
    expect(covers('openai/*', 'OpenAI/gpt-4o')).toBe(false);
    expect(covers('openai/*', 'openai')).toBe(false);
    expect(covers('openai/gpt-4*', 'openai/gpt-4o-mini')).toBe(true);
    expect(covers('openai/gpt-4o', 'openai/gpt-4o-mini')).toBe(false);
    expect(covers('openai/gpt-4o', 'openai/gpt-4o')).toBe(true);
    expect(isPattern('a/*')).toBe(true);
    expect(isPattern('a/b')).toBe(false);
  });

  it('searches the catalog for the prefix and keeps only covered models, sorted', () => {
    expect(previewSearch('openai/*')).toBe('openai/');
    // The catalog search is a case-insensitive substring match: a superset.
    const found = [
      { id: 'openai/o1' },
      { id: 'azure/openai/gpt-4o' },
      { id: 'OPENAI/legacy' },
      { id: 'openai/gpt-4o' },
    ];
    expect(coveredModels('openai/*', found).map((m) => m.id)).toEqual([
      'openai/gpt-4o',
      'openai/o1',
    ]);
  });
});
