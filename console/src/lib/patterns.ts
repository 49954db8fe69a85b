/**
 * Grant targets: a catalog model id, or a prefix pattern ending in one `*` (`openai/*`
 * covers every model whose id starts with `openai/`, case-sensitively, including models
 * added later). The same rules as the server, so a bad target is explained before sending.
 */

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Why a grant target would be refused, or null when it is acceptable. */
export function grantTargetProblem(target: string): string | null {
  if (target.length === 0) {
    return 'Enter a model id or a pattern such as openai/*.';
  }
  if (target.length > 255) {
    return 'At most 255 characters.';
  }
  if (CONTROL.test(target)) {
    return 'Control characters are not allowed.';
  }
  if (target.trim() !== target) {
    return 'No spaces at the start or the end.';
  }
  const stars = target.split('*').length - 1;
  if (stars > 1 || (stars === 1 && !target.endsWith('*'))) {
    return 'A pattern has one * and only at the end (a prefix such as openai/*).';
  }
  if (target === '*') {
    return '"*" alone would grant every model; name a prefix such as openai/*.';
  }
  return null;
}

export function isPattern(target: string): boolean {
  return target.endsWith('*');
}

/** The prefix a pattern stands for (the target itself for an exact id). */
export function patternPrefix(target: string): string {
  return isPattern(target) ? target.slice(0, -1) : target;
}

/** Whether a grant target covers a catalog model id. */
export function covers(target: string, modelId: string): boolean {
  return isPattern(target) ? modelId.startsWith(patternPrefix(target)) : modelId === target;
}

/**
 * The text to send as the catalog's `search` (a case-insensitive substring match, so a
 * superset of what the target covers; `covers` then keeps the exact set).
 */
export function previewSearch(target: string): string {
  return patternPrefix(target);
}

/** The models of `candidates` that the target covers, in id order. */
export function coveredModels<T extends { id: string }>(target: string, candidates: T[]): T[] {
  return candidates.filter((m) => covers(target, m.id)).sort((a, b) => (a.id < b.id ? -1 : 1));
}
