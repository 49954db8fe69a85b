import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class FieldProblem {
  @ApiProperty({ example: 'email', description: 'The field (dotted path for nested fields).' })
  field: string;

  @ApiProperty({ example: 'email must be at most 320 characters' })
  message: string;
}

/** RFC 9457 problem details, the body of every error response. */
export class ProblemResponse {
  @ApiProperty({ example: 'about:blank' })
  type: string;

  @ApiProperty({ example: 'Bad Request' })
  title: string;

  @ApiProperty({ example: 400 })
  status: number;

  @ApiProperty({ example: 'The request body is invalid.' })
  detail: string;

  @ApiProperty({ example: '/api/v1/users/u-1' })
  instance: string;

  @ApiProperty({
    example: '0c7b5f0e-5a3e-4f7a-9d51-2b1e6f3c9a10',
    description: 'Also in X-Request-Id.',
  })
  request_id: string;

  @ApiPropertyOptional({ type: [FieldProblem], description: 'Per-field validation messages.' })
  errors?: FieldProblem[];
}
