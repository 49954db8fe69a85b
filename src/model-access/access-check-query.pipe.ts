import { Injectable, PipeTransform } from '@nestjs/common';
import { FieldProblem } from '../common/problem.dto';
import { ValidationFailedException } from '../common/validation';

/** The query of GET /api/v1/access/check once validated. */
export interface AccessCheckParams {
  user_id: string;
  model_id: string;
}

const FIELDS = ['user_id', 'model_id'] as const;

/**
 * Validates the access check's query string by hand rather than through class-validator
 * (the busiest route): unknown fields first (`property <field> should not exist`, the
 * global ValidationPipe's wording), then `<field> must be a string` for a missing or
 * repeated one, as 400 problems. Identifier rules are applied after, by AccessService.check.
 */
@Injectable()
export class AccessCheckQueryPipe implements PipeTransform<unknown, AccessCheckParams> {
  transform(value: unknown): AccessCheckParams {
    const query = (value ?? {}) as Record<string, unknown>;
    const problems: FieldProblem[] = [];
    for (const key of Object.keys(query)) {
      if (key !== 'user_id' && key !== 'model_id') {
        problems.push({ field: key, message: `property ${key} should not exist` });
      }
    }
    for (const field of FIELDS) {
      if (typeof query[field] !== 'string') {
        problems.push({ field, message: `${field} must be a string` });
      }
    }
    if (problems.length > 0) {
      throw new ValidationFailedException(problems);
    }
    return { user_id: query.user_id as string, model_id: query.model_id as string };
  }
}
