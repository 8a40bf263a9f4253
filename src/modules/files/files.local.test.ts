import fs from 'node:fs';
import path from 'node:path';
import { describe } from 'vitest';
import { LocalStorage } from '../../core/providers/storage.ts';
import { filesSuite } from './files.suite.ts';

describe('files on the local storage driver', () => {
  filesSuite({
    name: 'local',
    start: async () => ({}),
    stop: async () => {},
    storedKeys: async (kernel) => {
      const root = (kernel.storage as LocalStorage).root;
      if (!fs.existsSync(root)) return [];
      return (fs.readdirSync(root, { recursive: true }) as string[]).filter((p) => fs.statSync(path.join(root, p)).isFile()).sort();
    },
  });
});
