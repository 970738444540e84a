// The parts of s3rver 3.x (which ships no types) that the tests use.
declare module 's3rver' {
  import { type Server } from 'node:http';
  import { type AddressInfo } from 'node:net';

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }

  export default class S3rver {
    constructor(options?: S3rverOptions);
    run(): Promise<AddressInfo>;
    /** The listening server, once run() has resolved. */
    httpServer?: Server;
    close(): Promise<void>;
    reset(): void;
  }
}
