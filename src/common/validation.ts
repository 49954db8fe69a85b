import { BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';
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

export class ValidationFailedException extends BadRequestException {
  constructor(readonly problems: FieldProblem[]) {
    super(`Validation failed: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
  }
}

/** Strict validation: unknown fields rejected, types transformed, one message per field. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new ValidationFailedException(fieldProblems(errors)),
  });
}
