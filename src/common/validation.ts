import {
  ArgumentMetadata,
  BadRequestException,
  ValidationError,
  ValidationPipe,
} from '@nestjs/common';
import { FieldProblem } from './problem.dto';

/** Flattens class-validator errors into one message per field. */
export function fieldProblems(errors: ValidationError[], prefix = ''): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const error of errors) {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    for (const message of Object.values(error.constraints ?? {})) {
      problems.push({ field, message });
    }
    problems.push(...fieldProblems(error.children ?? [], field));
  }
  return problems;
}

/** A request body sent as application/json that does not parse (classified by type, not text). */
export class InvalidJsonBodyException extends BadRequestException {}

export class ValidationFailedException extends BadRequestException {
  constructor(readonly problems: FieldProblem[]) {
    super(`Validation failed: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
  }
}

/** A PATCH must change something: 400 naming the fields it may send when it sends none of them. */
export function requireSomeField<T extends object>(
  body: T,
  fields: readonly (keyof T & string)[],
): void {
  if (fields.every((field) => body[field] === undefined)) {
    throw new BadRequestException(`Send at least one of ${fields.join(', ')}.`);
  }
}

/** Deepest nesting a request body may have; deeper bodies would exhaust the stack in class-transformer. */
export const MAX_BODY_DEPTH = 32;

/** True when value nests objects or arrays deeper than limit (checked without recursion). */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') {
      continue;
    }
    if (depth > limit) {
      return true;
    }
    for (const child of Object.values(current as Record<string, unknown>)) {
      stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** Own keys of Object.prototype: a field named so would slip past the unknown-field check. */
const PROTOTYPE_KEYS = new Set([...Object.getOwnPropertyNames(Object.prototype), '__proto__']);

/** True when some field (at any depth) is named like an Object.prototype member. */
export function hasPrototypeKeyField(value: unknown): boolean {
  if (value === null || typeof value !== 'object') {
    return false;
  }
  for (const key of Object.keys(value)) {
    if (PROTOTYPE_KEYS.has(key) || hasPrototypeKeyField((value as Record<string, unknown>)[key])) {
      return true;
    }
  }
  return false;
}

/** Fields (at any depth) named like Object.prototype members, as `a.b` paths. */
export function prototypeKeyFields(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object') {
    return [];
  }
  return Object.keys(value).flatMap((key) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return [
      ...(PROTOTYPE_KEYS.has(key) ? [path] : []),
      ...prototypeKeyFields((value as Record<string, unknown>)[key], path),
    ];
  });
}

/** A body must be a JSON object (no body at all counts as {}), and not absurdly deep. */
export class StrictValidationPipe extends ValidationPipe {
  /**
   * True when transform(value, metadata) would return value itself, decided without running
   * it (the access fast path skips the pipe then): not for a body, nor for an argument typed
   * as a class (validated); yes for a custom decorator's value (not validated), a whole path
   * or query object (left as it is, once a query has no field named like an Object.prototype
   * member), and a single path or query field typed string (or untyped) that is a string.
   */
  returnsUnchanged(value: unknown, metadata: ArgumentMetadata): boolean {
    if (metadata.type === 'body' || this.expectedType !== undefined) {
      return false;
    }
    if (metadata.metatype !== undefined && this.toValidate(metadata)) {
      return false;
    }
    if (metadata.type === 'custom') {
      return true;
    }
    if (metadata.data === undefined) {
      return metadata.type === 'param' || !hasPrototypeKeyField(value);
    }
    return (
      typeof value === 'string' && (metadata.metatype === undefined || metadata.metatype === String)
    );
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if ((metadata.type === 'body' || metadata.type === 'query') && hasPrototypeKeyField(value)) {
      // class-validator's whitelist does not see fields named like Object.prototype members
      throw new ValidationFailedException(
        prototypeKeyFields(value).map((field) => ({
          field,
          message: `property ${field} should not exist`,
        })),
      );
    }
    if (metadata.type === 'body' && value !== undefined) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new ValidationFailedException([
          { field: 'body', message: 'the body must be a JSON object' },
        ]);
      }
      if (nestsDeeperThan(value, MAX_BODY_DEPTH)) {
        throw new ValidationFailedException([
          { field: 'body', message: `the body must not nest deeper than ${MAX_BODY_DEPTH} levels` },
        ]);
      }
    }
    return super.transform(value, metadata);
  }
}

/** Strict validation: unknown fields rejected, types transformed, one message per field. */
export function createValidationPipe(): ValidationPipe {
  return new StrictValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new ValidationFailedException(fieldProblems(errors)),
  });
}
