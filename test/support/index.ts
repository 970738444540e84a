export { pollUntil } from './poll.js';
export { EICAR, benign, fileMetadata, md5, sha1, sha256 } from './samples.js';
export {
  TestService,
  dropDatabase,
  dropRedisPrefix,
  freePort,
  listFiles,
  query,
  type ServiceOptions,
} from './service.js';
export { startS3Server, type S3Request, type TestS3Server } from './s3-server.js';
export { sfdiskImage } from './disk.js';
export { recordSample, submissionInput } from './database.js';
export { multipartHead, multipartTail, multipartType, openSubmission } from './multipart.js';
export { documentedResponse, documentedRoute, responseMismatch } from './openapi.js';
export { seedScannedSamples } from './seed.js';
export { compilerProcesses, slowToCompileRule } from './compile.js';
