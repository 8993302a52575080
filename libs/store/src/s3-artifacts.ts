// Artifacts in an S3-compatible object store (AWS S3, MinIO, …): NTK_ARTIFACTS=s3://bucket/prefix. The
// ArtifactStore keeps a working copy under NTK_HOME (artifact-cache/); this is the remote side it uploads to
// and fetches from. The AWS SDK is loaded on first use, so commands on a file store never pay for it.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { ArtifactStore, type ExpectedArtifact, type RemoteArtifacts } from './artifact-store.ts';
import { StoreLocationError } from './result-store.ts';

/** What resolveNtkHome says about artifacts: the directory, and the s3:// URL when they live in S3. */
export interface ArtifactLocation {
  artifactsDir: string;
  artifactsUrl?: string;
}

/** The artifact store of a host: files under `artifactsDir`, or S3 with `artifactsDir` as its working copy. */
export function openArtifactStore(location: ArtifactLocation, env: NodeJS.ProcessEnv = process.env): ArtifactStore {
  if (!location.artifactsUrl) return new ArtifactStore(location.artifactsDir);
  return new ArtifactStore(location.artifactsDir, new S3Artifacts(parseS3Url(location.artifactsUrl), s3ClientConfig(env)));
}

export interface S3Location {
  bucket: string;
  /** Key prefix without slashes at either end; '' for the bucket's root. */
  prefix: string;
}

/** s3://bucket or s3://bucket/some/prefix. */
export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(\/.*)?$/.exec(url);
  if (!match) throw new StoreLocationError(`NTK_ARTIFACTS: "${url}" is not an S3 URL; use s3://<bucket>[/<prefix>] with a bucket name of 3-63 lowercase letters, digits, "." and "-"`);
  return { bucket: match[1]!, prefix: (match[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

/**
 * The client's settings from the environment: NTK_S3_ENDPOINT (http(s)://host:port of an S3-compatible server;
 * unset: AWS), AWS_REGION (default us-east-1), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN);
 * without keys, the SDK's usual chain (a profile, an instance or pod role).
 */
export function s3ClientConfig(env: NodeJS.ProcessEnv) {
  const endpoint = env.NTK_S3_ENDPOINT || undefined;
  if (endpoint && !/^https?:\/\/[^/]+\/?$/.test(endpoint)) {
    throw new StoreLocationError(`NTK_S3_ENDPOINT: "${endpoint}" is not an endpoint; use http://host:port or https://host[:port] (unset it for AWS S3)`);
  }
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) throw new StoreLocationError('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: set both or neither');
  return {
    region: env.AWS_REGION || 'us-east-1',
    ...(accessKeyId && secretAccessKey && { credentials: { accessKeyId, secretAccessKey, ...(sessionToken && { sessionToken }) } }),
    // Path-style addressing (host/bucket/key): MinIO and most S3-compatible servers have no per-bucket hostnames.
    ...(endpoint && { endpoint, forcePathStyle: true }),
  };
}

type S3Sdk = typeof import('@aws-sdk/client-s3');

/**
 * The SDK, loaded on first use. Its releases from 2027 on need Node 22, and it says so once per process on
 * Node 20 (which this project supports): a worker log is not the place for that, the pinned version works.
 */
function loadSdk(): Promise<S3Sdk> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return import('@aws-sdk/client-s3');
}

/** Creates the bucket of `url` (s3://bucket/…) unless it exists: for a server we run ourselves (`ntk cluster`). */
export async function ensureBucket(url: string, env: NodeJS.ProcessEnv): Promise<void> {
  const { bucket } = parseS3Url(url);
  const s3 = await loadSdk();
  const client = new s3.S3Client(s3ClientConfig(env));
  try {
    await client.send(new s3.HeadBucketCommand({ Bucket: bucket })).catch(() => client.send(new s3.CreateBucketCommand({ Bucket: bucket })));
  } finally {
    client.destroy();
  }
}

export class S3Artifacts implements RemoteArtifacts {
  readonly url: string;
  private sdk?: Promise<{ s3: S3Sdk; client: S3Client }>;

  constructor(
    readonly location: S3Location,
    private readonly config: ReturnType<typeof s3ClientConfig>,
  ) {
    this.url = `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const { s3, client } = await this.client();
    await client.send(new s3.PutObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key), Body: bytes }));
  }

  async download(key: string, file: string): Promise<ExpectedArtifact | undefined> {
    const { s3, client } = await this.client();
    let body: Readable;
    try {
      body = (await client.send(new s3.GetObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }))).Body as Readable;
    } catch (err) {
      if (err instanceof s3.NoSuchKey) return undefined;
      throw err;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    await pipeline(
      body,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          bytes += chunk.byteLength;
          yield chunk;
        }
      },
      fs.createWriteStream(file),
    );
    return { sha256: hash.digest('hex'), bytes };
  }

  async size(key: string): Promise<number | undefined> {
    const { s3, client } = await this.client();
    try {
      return (await client.send(new s3.HeadObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }))).ContentLength;
    } catch (err) {
      if (err instanceof s3.NotFound) return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const { s3, client } = await this.client();
    const keys: string[] = [];
    const strip = this.objectKey('').length;
    let ContinuationToken: string | undefined;
    do {
      const page = await client.send(new s3.ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.objectKey(prefix), ContinuationToken }));
      for (const object of page.Contents ?? []) keys.push(object.Key!.slice(strip));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return keys;
  }

  async delete(keys: string[]): Promise<void> {
    const { s3, client } = await this.client();
    // DeleteObjects takes at most 1,000 keys; a key that is not there counts as deleted.
    for (let i = 0; i < keys.length; i += 1000) {
      const Objects = keys.slice(i, i + 1000).map((key) => ({ Key: this.objectKey(key) }));
      const { Errors } = await client.send(new s3.DeleteObjectsCommand({ Bucket: this.location.bucket, Delete: { Objects, Quiet: true } }));
      if (Errors?.length) throw new Error(`${this.url}: deleting ${Errors.length} object(s) failed, first ${Errors[0]!.Key}: ${Errors[0]!.Message}`);
    }
  }

  private objectKey(key: string): string {
    return this.location.prefix ? `${this.location.prefix}/${key}` : key;
  }

  private client() {
    this.sdk ??= loadSdk().then((s3) => ({ s3, client: new s3.S3Client(this.config) }));
    return this.sdk;
  }
}
