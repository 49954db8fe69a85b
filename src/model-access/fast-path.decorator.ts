import { SetMetadata } from '@nestjs/common';

export const FAST_PATH_KEY = 'access_fast_path';

/**
 * Marks a GET handler to be answered by the access fast path (access-fast-path.ts). Its
 * path, parameters, pipes, access level, headers and status are read from the handler's
 * own decorators; the boot fails if it gains anything the fast path would skip.
 */
export const FastPath = () => SetMetadata(FAST_PATH_KEY, true);
