#include <memory>
#include <mutex>
#include <utility>

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

// What a compile needs, copied out of JS values so that it can run on another thread.
struct CompileInput {
  std::vector<std::pair<std::string, std::string>> sources;  // text, namespace
  std::vector<ExternalValue> externals;
  bool build = false;
  bool allowIncludes = false;
};

struct CompileOutput {
  std::vector<Diagnostic> diagnostics;
  int errorCount = 0;
  YR_RULES* rules = nullptr;
  // A failure of libyara itself (not a rule error): thrown, or the promise rejected, with this code.
  int failure = ERROR_SUCCESS;
  std::string failureMessage;

  CompileOutput() = default;
  CompileOutput(const CompileOutput&) = delete;
  CompileOutput& operator=(const CompileOutput&) = delete;
  ~CompileOutput() {
    if (rules != nullptr) yr_rules_destroy(rules);
  }
};

// One compile at a time per process: libyara's compiler is not documented as safe to run on two threads
// at once, and compiles now run on the libuv pool besides the main thread.
std::mutex compileMutex;

CompileInput ReadCompileInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsArray() || !info[2].IsObject()) {
    throw Napi::TypeError::New(env, "compile(sources, externals, options)");
  }
  CompileInput input;
  Napi::Array sources = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < sources.Length(); i++) {
    Napi::Value item = sources.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(env, "each source must be an object");
    Napi::Object entry = item.As<Napi::Object>();
    input.sources.emplace_back(entry.Get("source").ToString().Utf8Value(),
                               entry.Get("namespace").ToString().Utf8Value());
  }
  input.externals = ReadExternals(env, info[1]);
  Napi::Object options = info[2].As<Napi::Object>();
  input.build = options.Get("build").ToBoolean().Value();
  input.allowIncludes = options.Get("allowIncludes").ToBoolean().Value();
  return input;
}

// The libyara part of a compile: no JS values, so it may run on any thread.
// Stops adding sources after the first one with errors: libyara's compiler is unusable after an error.
void RunCompile(const CompileInput& input, CompileOutput* output) {
  std::lock_guard<std::mutex> lock(compileMutex);
  YR_COMPILER* raw = nullptr;
  int result = yr_compiler_create(&raw);
  if (result != ERROR_SUCCESS) {
    output->failure = result;
    output->failureMessage = "yr_compiler_create failed";
    return;
  }
  std::unique_ptr<YR_COMPILER, CompilerDeleter> compiler(raw);

  CompileState state;
  yr_compiler_set_callback(compiler.get(), OnCompilerMessage, &state);
  if (!input.allowIncludes) yr_compiler_set_include_callback(compiler.get(), RefuseInclude, nullptr, nullptr);

  for (const auto& external : input.externals) {
    result = DefineCompilerExternal(compiler.get(), external);
    if (result != ERROR_SUCCESS) {
      output->failure = result;
      output->failureMessage = "cannot define external variable '" + external.name + "'";
      return;
    }
  }

  int errorCount = 0;
  for (uint32_t i = 0; i < input.sources.size() && errorCount == 0; i++) {
    state.sourceIndex = i;
    errorCount += yr_compiler_add_string(compiler.get(), input.sources[i].first.c_str(),
                                         input.sources[i].second.c_str());
  }
  output->diagnostics = std::move(state.diagnostics);
  output->errorCount = errorCount;

  if (input.build && errorCount == 0) {
    result = yr_compiler_get_rules(compiler.get(), &output->rules);
    if (result != ERROR_SUCCESS) {
      output->rules = nullptr;
      output->failure = result;
      output->failureMessage = "yr_compiler_get_rules failed: " + ErrorDescription(result);
    }
  }
}

// { diagnostics, errorCount, rules: NativeRules | null }; the rules change owner (to the JS object).
Napi::Object CompileOutputToJs(Napi::Env env, CompileOutput* output) {
  Napi::Object out = Napi::Object::New(env);
  Napi::Array diagnostics = Napi::Array::New(env, output->diagnostics.size());
  for (size_t i = 0; i < output->diagnostics.size(); i++) {
    const Diagnostic& d = output->diagnostics[i];
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
  out.Set("errorCount", output->errorCount);
  out.Set("rules", env.Null());
  if (output->rules != nullptr) {
    YR_RULES* rules = output->rules;
    output->rules = nullptr;
    out.Set("rules", WrapRules(env, rules));
  }
  return out;
}

class CompileWorker : public Napi::AsyncWorker {
 public:
  CompileWorker(Napi::Env env, CompileInput input)
      : Napi::AsyncWorker(env, "specimen_yara.compile"),
        deferred_(Napi::Promise::Deferred::New(env)),
        input_(std::move(input)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    RunCompile(input_, &output_);
    if (output_.failure != ERROR_SUCCESS) SetError(output_.failureMessage);
  }

  void OnOK() override { deferred_.Resolve(CompileOutputToJs(Env(), &output_)); }

  void OnError(const Napi::Error& error) override {
    deferred_.Reject(MakeError(Env(), ErrorCode(output_.failure), error.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  CompileInput input_;
  CompileOutput output_;
};

}  // namespace

// compile(sources: {source, namespace}[], externals, { build, allowIncludes })
//   -> { diagnostics, errorCount, rules: NativeRules | null }, on the calling thread.
Napi::Value Compile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CompileInput input = ReadCompileInput(info);
  CompileOutput output;
  RunCompile(input, &output);
  if (output.failure != ERROR_SUCCESS) throw MakeError(env, ErrorCode(output.failure), output.failureMessage);
  return CompileOutputToJs(env, &output);
}

// compileAsync(...) -> Promise of what compile(...) returns; libyara's work runs on the libuv pool, so
// the event loop keeps turning during a large compile.
Napi::Value CompileAsync(const Napi::CallbackInfo& info) {
  auto* worker = new CompileWorker(info.Env(), ReadCompileInput(info));
  worker->Queue();
  return worker->Promise();
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
