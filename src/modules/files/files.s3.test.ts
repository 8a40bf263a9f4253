import { describe } from 'vitest';
import { startS3Server, type S3TestServer } from '../../../test/support/s3.ts';
import { filesSuite } from './files.suite.ts';

let server: S3TestServer | undefined;

describe('files on the S3 storage driver (s3rver on this machine)', () => {
  filesSuite({
    name: 's3',
    start: async () => {
      server = await startS3Server();
      return server.env;
    },
    stop: async () => {
      await server?.close();
    },
    storedKeys: () => server!.listKeys(),
  });
});
