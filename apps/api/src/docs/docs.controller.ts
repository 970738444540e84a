import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Controller, Get, Inject, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { projectRoot } from '#config';
import { SpecimenError } from '#contracts';
import { Public } from '../auth/auth.js';
import { CONSOLE_CSP } from '../console/console.static.js';
import { buildOpenApi } from './openapi.js';
import { RouteDiscovery } from './route-discovery.js';
import { ROUTE_DOCS } from './route-docs.js';

const require = createRequire(import.meta.url);
const SWAGGER_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));
/** The only files served from swagger-ui-dist: a fixed list, never a path from the request. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};
const VERSION = (
  JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version?: string }
).version;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Specimen API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<noscript><p>The API description is at <a href="/docs/openapi.json">/docs/openapi.json</a>.</p></noscript>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
`;
const INIT = `window.ui = SwaggerUIBundle({ url: '/docs/openapi.json', dom_id: '#swagger-ui',
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });
`;

/** The OpenAPI document and Swagger UI, both public: they describe the API, they give no access. */
@Controller('docs')
export class DocsController {
  private document: Record<string, unknown> | null = null;

  constructor(@Inject(RouteDiscovery) private readonly discovery: RouteDiscovery) {}

  @Get()
  @Public()
  page(@Res() res: Response): void {
    res.type('html').setHeader('Cache-Control', 'no-cache');
    // The console's headers: this page shares its origin (and the API's), so no other site may frame it,
    // and it runs only its own scripts (Swagger UI needs nothing the console's policy refuses).
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.send(PAGE);
  }

  @Get('openapi.json')
  @Public()
  openapi(): Record<string, unknown> {
    this.document ??= buildOpenApi(this.discovery.routes(), ROUTE_DOCS, VERSION ?? '0.0.0');
    return this.document;
  }

  @Get('assets/:file')
  @Public()
  asset(@Param('file') file: string, @Res() res: Response): void {
    if (file === 'init.js') {
      res.type('text/javascript').setHeader('X-Content-Type-Options', 'nosniff').send(INIT);
      return;
    }
    const type = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
    if (type === undefined) throw new SpecimenError('NOT_FOUND', 'no such file');
    res.setHeader('Content-Type', type);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.sendFile(join(SWAGGER_DIR, file));
  }
}
