#include <memory>

#include "common.h"

namespace specimen {

namespace {

struct Diagnostic {
  int level = YARA_ERROR_LEVEL_ERROR;
  uint32_t sourceIndex = 0;
  bool hasFileName = false;
  std::string fileName;
  int line = 0;
  bool hasRule = false;
  std::string rule;
  std::string message;
};

struct CompileState {
  uint32_t sourceIndex = 0;
  std::vector<Diagnostic> diagnostics;
};

void OnCompilerMessage(int level, const char* fileName, int line, const YR_RULE* rule, const char* message,
                       void* userData) {
  auto* state = static_cast<CompileState*>(userData);
  Diagnostic diagnostic;
  diagnostic.level = level;
  diagnostic.sourceIndex = state->sourceIndex;
  diagnostic.hasFileName = fileName != nullptr;
  if (fileName != nullptr) diagnostic.fileName = fileName;
  diagnostic.line = line;
  diagnostic.hasRule = rule != nullptr && rule->identifier != nullptr;
  if (diagnostic.hasRule) diagnostic.rule = rule->identifier;
  if (message != nullptr) diagnostic.message = message;
  state->diagnostics.push_back(std::move(diagnostic));
}

// Used when includes are not allowed: rules uploaded by users must not read server files.
const char* RefuseInclude(const char*, const char*, const char*, void*) { return nullptr; }

struct CompilerDeleter {
  void operator()(YR_COMPILER* compiler) const { yr_compiler_destroy(compiler); }
};

int DefineCompilerExternal(YR_COMPILER* compiler, const ExternalValue& external) {
  const char* name = external.name.c_str();
  switch (external.kind) {
    case ExternalValue::Kind::Integer:
      return yr_compiler_define_integer_variable(compiler, name, external.integer);
    case ExternalValue::Kind::Float:
      return yr_compiler_define_float_variable(compiler, name, external.real);
    case ExternalValue::Kind::Boolean:
      return yr_compiler_define_boolean_variable(compiler, name, static_cast<int>(external.integer));
    case ExternalValue::Kind::String:
      return yr_compiler_define_string_variable(compiler, name, external.text.c_str());
  }
  return ERROR_INVALID_ARGUMENT;
}

}  // namespace

// compile(sources: {source, namespace}[], externals, { build, allowIncludes })
//   -> { diagnostics, errorCount, rules: NativeRules | null }
// Stops adding sources after the first one with errors: libyara's compiler is unusable after an error.
Napi::Value Compile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsArray() || !info[2].IsObject()) {
    throw Napi::TypeError::New(env, "compile(sources, externals, options)");
  }
  Napi::Array sources = info[0].As<Napi::Array>();
  std::vector<ExternalValue> externals = ReadExternals(env, info[1]);
  Napi::Object options = info[2].As<Napi::Object>();
  bool build = options.Get("build").ToBoolean().Value();
  bool allowIncludes = options.Get("allowIncludes").ToBoolean().Value();

  YR_COMPILER* raw = nullptr;
  int result = yr_compiler_create(&raw);
  if (result != ERROR_SUCCESS) throw MakeError(env, ErrorCode(result), "yr_compiler_create failed");
  std::unique_ptr<YR_COMPILER, CompilerDeleter> compiler(raw);

  CompileState state;
  yr_compiler_set_callback(compiler.get(), OnCompilerMessage, &state);
  if (!allowIncludes) yr_compiler_set_include_callback(compiler.get(), RefuseInclude, nullptr, nullptr);

  for (const auto& external : externals) {
    result = DefineCompilerExternal(compiler.get(), external);
    if (result != ERROR_SUCCESS) {
      throw MakeError(env, ErrorCode(result), "cannot define external variable '" + external.name + "'");
    }
  }

  int errorCount = 0;
  for (uint32_t i = 0; i < sources.Length() && errorCount == 0; i++) {
    Napi::Value item = sources.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(env, "each source must be an object");
    Napi::Object entry = item.As<Napi::Object>();
    std::string text = entry.Get("source").ToString().Utf8Value();
    std::string ns = entry.Get("namespace").ToString().Utf8Value();
    state.sourceIndex = i;
    errorCount += yr_compiler_add_string(compiler.get(), text.c_str(), ns.c_str());
  }

  Napi::Object out = Napi::Object::New(env);
  Napi::Array diagnostics = Napi::Array::New(env, state.diagnostics.size());
  for (size_t i = 0; i < state.diagnostics.size(); i++) {
    const Diagnostic& d = state.diagnostics[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("severity", d.level == YARA_ERROR_LEVEL_WARNING ? "warning" : "error");
    o.Set("sourceIndex", d.sourceIndex);
    o.Set("fileName", d.hasFileName ? Napi::Value(Napi::String::New(env, d.fileName)) : env.Null());
    o.Set("line", d.line);
    o.Set("rule", d.hasRule ? Napi::Value(Napi::String::New(env, d.rule)) : env.Null());
    o.Set("message", d.message);
    diagnostics.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("diagnostics", diagnostics);
  out.Set("errorCount", errorCount);
  out.Set("rules", env.Null());

  if (build && errorCount == 0) {
    YR_RULES* rules = nullptr;
    result = yr_compiler_get_rules(compiler.get(), &rules);
    if (result != ERROR_SUCCESS) {
      throw MakeError(env, ErrorCode(result), "yr_compiler_get_rules failed: " + ErrorDescription(result));
    }
    out.Set("rules", WrapRules(env, rules));
  }
  return out;
}

// loadRules(path) -> NativeRules
Napi::Value LoadRules(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "loadRules(path)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  YR_RULES* rules = nullptr;
  int result = yr_rules_load(path.c_str(), &rules);
  if (result != ERROR_SUCCESS) {
    throw MakeError(env, ErrorCode(result), "cannot load compiled rules from " + path + ": " +
                                                ErrorDescription(result));
  }
  return WrapRules(env, rules);
}

}  // namespace specimen
