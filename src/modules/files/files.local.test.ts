import { describe } from 'vitest';
import { filesSuite } from './files.suite.ts';

describe('files on the local storage driver', () => {
  filesSuite({ name: 'local', start: async () => ({}), stop: async () => {} });
});
