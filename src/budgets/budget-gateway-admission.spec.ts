import { worstCaseNanos } from './budget-admission.service';
import { requestedChoices, requestedMaxTokens } from './budget-gateway-admission';

const MODEL = {
  id: 'm',
  promptPriceUsd: 0.000001,
  completionPriceUsd: 0.000002,
  contextLength: 8000,
  maxCompletionTokens: 4000,
};

describe('what a gateway call reserves', () => {
  it('bounds the completion by the larger of max_tokens and max_completion_tokens', () => {
    expect(requestedMaxTokens({ max_tokens: 100 })).toBe(100);
    expect(requestedMaxTokens({ max_completion_tokens: 100 })).toBe(100);
    // a provider may obey either one: the larger is what the call can cost
    expect(requestedMaxTokens({ max_completion_tokens: 10, max_tokens: 900 })).toBe(900);
    expect(requestedMaxTokens({ max_completion_tokens: 900, max_tokens: 10 })).toBe(900);
  });

  it('does not trust 0, negative, fractional or non-numeric bounds (the model limit applies)', () => {
    for (const value of [0, -5, 1.5, '100', null, true]) {
      expect(requestedMaxTokens({ max_tokens: value })).toBeNull();
    }
    expect(worstCaseNanos(MODEL, 10, requestedMaxTokens({ max_tokens: 0 }))).toBe(
      worstCaseNanos(MODEL, 10, MODEL.maxCompletionTokens),
    );
  });

  it('reserves one completion per choice asked for (n, best_of)', () => {
    expect(requestedChoices({})).toBe(1);
    expect(requestedChoices({ n: 3 })).toBe(3);
    expect(requestedChoices({ best_of: 5, n: 2 })).toBe(5);
    expect(requestedChoices({ n: 0 })).toBe(1);
    expect(requestedChoices({ n: 'many' })).toBe(1);
    // 10 prompt tokens and 3 x 100 completion tokens
    expect(worstCaseNanos(MODEL, 10, 100, 3)).toBe(10 * 1000 + 300 * 2000);
    expect(worstCaseNanos(MODEL, 10, null, 2)).toBe(10 * 1000 + 2 * 4000 * 2000);
  });
});
