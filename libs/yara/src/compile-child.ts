// The process compileRulesIsolated() forks: it compiles the sources it is sent (the synchronous
// compileRules, nothing else runs here), saves the rules to the path it was given and answers with the
// diagnostics, or with the error. One compile, then it exits; it exits too when its parent goes.
import { compileRules } from './compile.js';
import type { ChildAnswer, ChildRequest } from './compile-isolated.js';

function answer(message: ChildAnswer): void {
  process.send?.(message, undefined, undefined, () => process.exit(0));
}

process.on('disconnect', () => process.exit(0));
process.once('message', (request: ChildRequest) => {
  try {
    const result = compileRules(request.sources, request.options);
    if (result.rules !== null) {
      result.rules.save(request.outPath);
      result.rules.destroy();
    }
    answer({
      ok: true,
      saved: result.rules !== null,
      diagnostics: result.diagnostics,
      quarantined: result.quarantined,
      ruleCount: result.ruleCount,
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    answer({
      ok: false,
      message: error instanceof Error ? error.message : String(error),
      code: typeof code === 'string' ? code : 'YARA_ERROR_COMPILE',
    });
  }
});
