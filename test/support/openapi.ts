import { z } from 'zod';

type Json = Record<string, unknown>;

/** `node` with every local `$ref` replaced by the schema it points to (the API's schemas have no cycles). */
function inlineRefs(node: unknown, doc: Json, seen: readonly string[] = []): unknown {
  if (Array.isArray(node)) return node.map((item) => inlineRefs(item, doc, seen));
  if (node === null || typeof node !== 'object') return node;
  const { $ref: ref, ...rest } = node as Json;
  if (typeof ref === 'string') {
    if (!ref.startsWith('#/') || seen.includes(ref)) throw new Error(`cannot follow $ref ${ref}`);
    let target: unknown = doc;
    for (const key of ref.slice(2).split('/')) {
      if (target === null || typeof target !== 'object' || !Object.hasOwn(target, key)) {
        throw new Error(`$ref ${ref} points nowhere`);
      }
      target = (target as Json)[key];
    }
    return inlineRefs({ ...(target as Json), ...rest }, doc, [...seen, ref]);
  }
  return Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, inlineRefs(v, doc, seen)]));
}

/**
 * The document's route (`GET /v1/samples/{sha256}`) that serves `method` on `pathname`; the one with the
 * fewest parameters when several match (`/v1/agents/me/consent` before `/v1/agents/{id}/...`); null if none.
 */
export function documentedRoute(doc: Json, method: string, pathname: string): string | null {
  const candidates = Object.entries(doc.paths as Record<string, Json>)
    .filter(([, item]) => Object.hasOwn(item, method.toLowerCase()))
    .map(([path]) => path)
    .filter((path) => {
      const pattern = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}/]+\}/g, '[^/]+');
      return new RegExp(`^${pattern}$`).test(pathname);
    })
    .sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
  return candidates[0] === undefined ? null : `${method.toUpperCase()} ${candidates[0]}`;
}

const cache = new WeakMap<Json, Map<string, z.ZodType>>();

/**
 * What the OpenAPI document publishes of a JSON answer: the schema of status `status` of `route`
 * (`GET /v1/samples/{sha256}`), references resolved and read back into zod. Throws, saying why, when the
 * document has no such answer, or one that is not JSON, or one without a schema (`{}`).
 */
export function documentedResponse(doc: Json, route: string, status: number): z.ZodType {
  let known = cache.get(doc);
  if (known === undefined) cache.set(doc, (known = new Map<string, z.ZodType>()));
  const key = `${route} ${status}`;
  const hit = known.get(key);
  if (hit !== undefined) return hit;
  const [method = '', path = ''] = route.split(' ');
  const op = ((doc.paths as Record<string, Json> | undefined)?.[path] as Record<string, Json> | undefined)?.[
    method.toLowerCase()
  ];
  if (op === undefined) throw new Error(`${route} is not in the document`);
  const answer = (op.responses as Record<string, Json>)[String(status)];
  if (answer === undefined) throw new Error(`${route} has no documented ${status} answer`);
  const json = (answer.content as Record<string, Json> | undefined)?.['application/json'];
  if (json === undefined) throw new Error(`${route} ${status} is not documented as JSON`);
  const schema = json.schema as Json | undefined;
  if (schema === undefined || Object.keys(schema).length === 0) {
    throw new Error(`${route} ${status} has no response schema`);
  }
  const zod = z.fromJSONSchema(inlineRefs(schema, doc) as Parameters<typeof z.fromJSONSchema>[0]);
  known.set(key, zod);
  return zod;
}

/**
 * Why `body`, answered with `status` by `route`, is not what the OpenAPI document says of that answer;
 * null when it is.
 */
export function responseMismatch(doc: Json, route: string, status: number, body: unknown): string | null {
  let schema: z.ZodType;
  try {
    schema = documentedResponse(doc, route, status);
  } catch (e) {
    return (e as Error).message;
  }
  const result = schema.safeParse(body);
  return result.success
    ? null
    : `${route} ${status} differs from its schema: ${z.prettifyError(result.error)}`;
}
