/**
 * The local emulation of batch-extract's AWS services, on loopback: an S3 (fauxqs, in
 * process), a Bedrock emulator (control plane and runtime on one port, answering with the
 * offline model) and `LocalBackend`, which starts both and provides the ports over the real
 * AWS SDK clients.
 *
 * When to use: runs without an AWS account (the command's default backend), demos, and
 * tests of your own pipelines against real SDK clients.
 *
 * Gotchas: this entry point needs the optional peer dependency `fauxqs`; the live entry point
 * (`@batch-extract/aws`) never loads it, nor the test kit.
 *
 * @since 0.1.0
 */
export * as BedrockEmulator from "./BedrockEmulator.ts"
export * as LocalBackend from "./LocalBackend.ts"
export * as LocalS3 from "./LocalS3.ts"
