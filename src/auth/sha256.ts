import { hash } from 'node:crypto';

/**
 * SHA-256 of a credential, the form keys are compared in (timingSafeEqual needs equal
 * lengths). One-shot `crypto.hash`: on the access check it runs once per request, and the
 * createHash().update().digest() chain cost three times as much.
 */
export function sha256(text: string): Buffer {
  return hash('sha256', text, 'buffer');
}
