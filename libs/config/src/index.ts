export { ConfigError, loadConfig, projectRoot, type Config } from './config.schema.js';
export { CONFIG, ConfigModule } from './config.module.js';
export { pseudonym } from './pseudonym.js';
export { retentionCutoff } from './retention.js';
export { REQUIRED_NODE_MAJOR, unsupportedNode } from './node-version.js';
