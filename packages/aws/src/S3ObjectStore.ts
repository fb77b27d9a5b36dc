/**
 * The live `ObjectStore` on Amazon S3 (`@aws-sdk/client-s3`, `@aws-sdk/lib-storage`).
 *
 * When to use: production runs ({@link layerConfig} with the settings of a `BatchConfig`,
 * see {@link optionsFromBatchConfig}), and the local emulation (`LocalBackend`), where the
 * same code talks to an in-process S3 on loopback.
 *
 * Details:
 * - `put` streams the body through a multipart upload (`Upload` from lib-storage): at most
 *   `queueSize × partSize` bytes are buffered, so a multi-gigabyte JSONL file is never held
 *   whole in memory. Bodies smaller than one part go up as a single `PutObject`.
 * - Uploads are encrypted with SSE-KMS when a key is configured (`kmsKeyId`) or given per
 *   upload (`PutOptions.kmsKeyId`, which wins).
 * - Every request carries `ExpectedBucketOwner` when `bucketOwner` is configured, so a
 *   bucket that changed hands is refused (`AccessDenied`) instead of written to.
 * - `get` streams the body; stopping early destroys the HTTP response. `list` follows
 *   `ListObjectsV2` continuation tokens as a `Stream`.
 * - Interrupting a call aborts its HTTP request (an upload is aborted and its parts removed).
 *
 * Gotchas: the client never retries (`maxAttempts: 1`); a failed upload is not retried here.
 *
 * @since 0.1.0
 */
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client
} from "@aws-sdk/client-s3"
import { Upload } from "@aws-sdk/lib-storage"
import type { BatchConfig } from "@batch-extract/core"
import { ObjectStore } from "@batch-extract/core"
import { type Config, Effect, Layer, Option, type Scope, Stream } from "effect"
import { Readable } from "node:stream"
import * as AwsClients from "./AwsClients.ts"
import * as SdkError from "./SdkError.ts"

/** Options of the S3 object store. */
export interface Options {
  /** Client settings (region, endpoint, credentials). */
  readonly client?: AwsClients.ClientSettings | undefined
  /** SSE-KMS key (id, ARN or alias) for every upload that does not name its own. */
  readonly kmsKeyId?: string | undefined
  /** The 12-digit account that must own the bucket (`ExpectedBucketOwner`). */
  readonly bucketOwner?: string | undefined
  /** Bytes per multipart part (at least 5 MiB; default 8 MiB). */
  readonly partSize?: number | undefined
  /** Parts uploaded at once (default 4). */
  readonly queueSize?: number | undefined
  /** Keys per listing page (1..1000; default 1000). */
  readonly pageSize?: number | undefined
}

const minimumPartSize = 5 * 1024 * 1024
const defaultPartSize = 8 * 1024 * 1024

/** The store options a `BatchConfig` implies: its KMS key and bucket owner. */
export const optionsFromBatchConfig = (config: BatchConfig.BatchConfig): Options => ({
  kmsKeyId: config.s3EncryptionKeyId,
  bucketOwner: config.s3BucketOwner
})

const isNodeReadable = (body: unknown): body is Readable => body instanceof Readable

/**
 * The client as lib-storage sees it: every request of the upload carries the abort signal
 * (lib-storage does not pass one), except the clean-up `AbortMultipartUpload`, which must
 * still go out after an interruption.
 */
const abortable = (client: S3Client, signal: AbortSignal): S3Client =>
  new Proxy(client, {
    get: (target, property) =>
      property === "send"
        ? (command: any, options?: any) =>
          command instanceof AbortMultipartUploadCommand
            ? target.send(command, options)
            : target.send(command, { ...options, abortSignal: signal })
        : Reflect.get(target, property)
  })

/**
 * Build the store on an existing client (the caller owns the client's lifetime).
 *
 * Use {@link make} or the Layers unless you share one client between several services.
 */
export const fromClient = (client: S3Client, options: Options = {}): ObjectStore.ObjectStore["Service"] => {
  const owner = options.bucketOwner !== undefined ? { ExpectedBucketOwner: options.bucketOwner } : {}
  const partSize = Math.max(minimumPartSize, options.partSize ?? defaultPartSize)
  const queueSize = Math.max(1, options.queueSize ?? 4)
  const pageSize = Math.min(1000, Math.max(1, options.pageSize ?? 1000))

  const put: ObjectStore.ObjectStore["Service"]["put"] = <E>(
    ref: ObjectStore.ObjectRef,
    body: Stream.Stream<Uint8Array, E>,
    putOptions?: ObjectStore.PutOptions
  ) =>
    Effect.suspend(() => {
      let size = 0
      let bodyFailure: Option.Option<E> = Option.none()
      const counted = body.pipe(
        Stream.map((chunk) => {
          size += chunk.length
          return chunk
        }),
        Stream.tapError((error) =>
          Effect.sync(() => {
            bodyFailure = Option.some(error)
          })
        )
      )
      const kmsKeyId = putOptions?.kmsKeyId ?? options.kmsKeyId
      return Effect.tryPromise({
        try: (signal) => {
          const readable = Readable.from(Stream.toAsyncIterable(counted))
          const upload = new Upload({
            client: abortable(client, signal),
            partSize,
            queueSize,
            leavePartsOnError: false,
            params: {
              Bucket: ref.bucket,
              Key: ref.key,
              Body: readable,
              ...owner,
              ...(putOptions?.contentType !== undefined ? { ContentType: putOptions.contentType } : {}),
              ...(kmsKeyId !== undefined ? { ServerSideEncryption: "aws:kms" as const, SSEKMSKeyId: kmsKeyId } : {})
            }
          })
          signal.addEventListener("abort", () => {
            void upload.abort()
            readable.destroy()
          }, { once: true })
          return upload.done().finally(() => readable.destroy())
        },
        catch: (cause): ServiceErrorOr<E> =>
          Option.isSome(bodyFailure) ? bodyFailure.value : SdkError.fromSdkError("ObjectStore.put", cause)
      }).pipe(Effect.map(() => ({ size })))
    }).pipe(Effect.withSpan("ObjectStore.put", { attributes: { bucket: ref.bucket, key: ref.key } }))

  const get = (ref: ObjectStore.ObjectRef) =>
    Stream.unwrap(
      Effect.gen(function*() {
        const response = yield* Effect.acquireRelease(
          SdkError.attempt(
            "ObjectStore.get",
            (signal) =>
              client.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...owner }), {
                abortSignal: signal
              })
          ),
          (response) =>
            Effect.sync(() => {
              if (isNodeReadable(response.Body)) response.Body.destroy()
            })
        )
        const responseBody = response.Body
        if (responseBody === undefined) return Stream.empty
        return Stream.fromAsyncIterable(
          responseBody as unknown as AsyncIterable<Uint8Array>,
          (cause) => SdkError.fromSdkError("ObjectStore.get", cause)
        )
      })
    )

  const list = (bucket: string, prefix: string) =>
    Stream.paginate(
      undefined as string | undefined,
      (continuationToken) =>
        SdkError.attempt("ObjectStore.list", (signal) =>
          client.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              Prefix: prefix,
              MaxKeys: pageSize,
              ...owner,
              ...(continuationToken !== undefined ? { ContinuationToken: continuationToken } : {})
            }),
            { abortSignal: signal }
          )).pipe(
            Effect.map((page) =>
              [
                (page.Contents ?? []).flatMap((object): Array<ObjectStore.ObjectInfo> =>
                  object.Key === undefined
                    ? []
                    : [{ key: object.Key, size: object.Size ?? 0, lastModified: object.LastModified }]
                ),
                page.IsTruncated === true && page.NextContinuationToken !== undefined
                  ? Option.some<string | undefined>(page.NextContinuationToken)
                  : Option.none()
              ] as const
            )
          )
    )

  const head = (ref: ObjectStore.ObjectRef) =>
    SdkError.attempt(
      "ObjectStore.head",
      (signal) =>
        client.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...owner }), { abortSignal: signal })
    ).pipe(
      Effect.map((info) =>
        Option.some<ObjectStore.ObjectInfo>({
          key: ref.key,
          size: info.ContentLength ?? 0,
          lastModified: info.LastModified
        })
      ),
      Effect.catchTag("NotFound", () => Effect.succeed(Option.none<ObjectStore.ObjectInfo>())),
      Effect.withSpan("ObjectStore.head", { attributes: { bucket: ref.bucket, key: ref.key } })
    )

  const deleteMany = (bucket: string, keys: ReadonlyArray<string>) =>
    Effect.forEach(chunksOf(keys, 1000), (batch) =>
      SdkError.attempt("ObjectStore.deleteMany", (signal) =>
        client.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: batch.map((key) => ({ Key: key })), Quiet: true },
            ...owner
          }),
          { abortSignal: signal }
        )).pipe(
          Effect.flatMap((result) => {
            const failed = (result.Errors ?? []).filter((error) => error.Code !== "NoSuchKey")
            const first = failed[0]
            return first === undefined ? Effect.void : Effect.fail(
              SdkError.fromSdkError("ObjectStore.deleteMany", {
                name: first.Code,
                message: `could not delete ${failed.length} of ${batch.length} objects; first: ${first.Key} ` +
                  `(${first.Code}: ${first.Message})`,
                $metadata: result.$metadata
              })
            )
          })
        ), { discard: true }).pipe(
        Effect.withSpan("ObjectStore.deleteMany", { attributes: { bucket, keys: keys.length } })
      )

  return ObjectStore.ObjectStore.of({ put, get, list, head, deleteMany })
}

type ServiceErrorOr<E> = ReturnType<typeof SdkError.fromSdkError> | E

const chunksOf = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const chunks: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size))
  return chunks
}

/** Build the store with its own client, destroyed when the scope closes. */
export const make = (options: Options = {}): Effect.Effect<ObjectStore.ObjectStore["Service"], never, Scope.Scope> =>
  Effect.map(AwsClients.s3Client(options.client), (client) => fromClient(client, options))

/** The store as a Layer, with exactly the given settings (the SDK still reads its own environment). */
export const layer = (options: Options = {}): Layer.Layer<ObjectStore.ObjectStore> =>
  Layer.effect(ObjectStore.ObjectStore, make(options))

/**
 * The store as a Layer whose client settings come from `Config` (`AWS_REGION`,
 * `AWS_ENDPOINT_URL_S3`…), with explicit `options.client` settings taking precedence.
 */
export const layerConfig = (options: Options = {}): Layer.Layer<ObjectStore.ObjectStore, Config.ConfigError> =>
  Layer.effect(
    ObjectStore.ObjectStore,
    Effect.flatMap(
      AwsClients.config({ region: options.client?.region }),
      (settings) => make({ ...options, client: AwsClients.merge(settings, options.client ?? {}) })
    )
  )
