/** The Node.js major version the services need (package.json `engines`; the `node` devDependency pins it). */
export const REQUIRED_NODE_MAJOR = 24;

/**
 * Null when `version` (process.versions.node) is one the services run on, else why not. On Node 20 the API
 * started without a word and then cut every download short (ArrayBuffer.prototype.transfer is missing there).
 */
export function unsupportedNode(version: string): string | null {
  const major = Number(version.split('.')[0]);
  if (major === REQUIRED_NODE_MAJOR) return null;
  return `Specimen runs on Node.js ${REQUIRED_NODE_MAJOR}, not ${version}: start it with npm (npm start uses the node devDependency) or node ${REQUIRED_NODE_MAJOR}`;
}
