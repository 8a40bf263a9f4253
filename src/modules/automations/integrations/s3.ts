import http from 'node:http';
import https from 'node:https';
import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { Kernel } from '../../../core/kernel.ts';
import { checkOutboundUrl, guardedLookup, OutboundBlockedError } from '../../../core/net/outbound.ts';
import type { S3CsvConfig } from './connectors.ts';

/** Largest CSV an inbound sync reads. */
export const MAX_CSV_BYTES = 20 * 1024 * 1024;

export class S3Failure extends Error {}

/**
 * An S3 client for a tenant's bucket under the outbound policy: the endpoint is checked before any
 * request (an IP-literal host never reaches `lookup`), and the SDK's sockets resolve every name
 * through the guard, so a bucket cannot point Plinth at its own network. The SDK follows no redirects.
 */
async function clientFor(kernel: Kernel, config: S3CsvConfig): Promise<S3Client> {
  if (config.endpoint) await checkOutboundUrl(config.endpoint, kernel.outbound);
  const lookup = guardedLookup(kernel.outbound);
  return new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.force_path_style ?? Boolean(config.endpoint),
    credentials: { accessKeyId: config.access_key_id, secretAccessKey: config.secret_access_key },
    maxAttempts: 2,
    requestHandler: {
      httpAgent: new http.Agent({ lookup }),
      httpsAgent: new https.Agent({ lookup }),
      connectionTimeout: 5_000,
      requestTimeout: kernel.config.OUTBOUND_TIMEOUT_MS,
    },
  });
}

/** What the bucket said, without echoing its body: the S3 error code and status. */
function failure(error: unknown, what: string): S3Failure {
  if (error instanceof S3ServiceException) return new S3Failure(`${what}: the bucket answered ${error.name} (${error.$metadata.httpStatusCode ?? 'no status'})`);
  const code = (error as NodeJS.ErrnoException)?.code;
  if (error instanceof OutboundBlockedError) return new S3Failure(`${what}: the endpoint is refused: ${(error as Error).message}`);
  return new S3Failure(`${what}: the bucket could not be reached${code ? ` (${code})` : ''}`);
}

export async function readCsv(kernel: Kernel, config: S3CsvConfig): Promise<string> {
  let client: S3Client | undefined;
  try {
    client = await clientFor(kernel, config);
    const res = await client.send(new GetObjectCommand({ Bucket: config.bucket, Key: config.key }));
    if ((res.ContentLength ?? 0) > MAX_CSV_BYTES) throw new S3Failure(`${config.key} is larger than ${MAX_CSV_BYTES} bytes`);
    const bytes = await res.Body!.transformToByteArray();
    if (bytes.byteLength > MAX_CSV_BYTES) throw new S3Failure(`${config.key} is larger than ${MAX_CSV_BYTES} bytes`);
    return Buffer.from(bytes).toString('utf8');
  } catch (error) {
    if (error instanceof S3Failure) throw error;
    throw failure(error, `reading ${config.key}`);
  } finally {
    client?.destroy();
  }
}

export async function writeCsv(kernel: Kernel, config: S3CsvConfig, key: string, text: string): Promise<void> {
  let client: S3Client | undefined;
  try {
    client = await clientFor(kernel, config);
    await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: key, Body: text, ContentType: 'text/csv; charset=utf-8' }));
  } catch (error) {
    throw failure(error, `writing ${key}`);
  } finally {
    client?.destroy();
  }
}
