// specimen_yara: N-API binding over the system libyara.
#include <mutex>

#include "common.h"

namespace specimen {

namespace {

std::mutex initMutex;
bool initialized = false;
int initResult = ERROR_SUCCESS;

// yr_initialize is not thread-safe and the addon may load once per worker_thread, so it runs once per
// process under a lock. yr_finalize is never called: a scan from a terminating worker can still be on
// the libuv pool, and the OS reclaims libyara's globals at exit.
int InitializeOnce() {
  std::lock_guard<std::mutex> lock(initMutex);
  if (!initialized) {
    initResult = yr_initialize();
    initialized = initResult == ERROR_SUCCESS;
  }
  return initialized ? ERROR_SUCCESS : initResult;
}

Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), YR_VERSION); }

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  int result = InitializeOnce();
  if (result != ERROR_SUCCESS) throw MakeError(env, ErrorCode(result), "yr_initialize failed");
  auto* data = new AddonData();
  data->rulesConstructor = Napi::Persistent(InitRulesClass(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("compile", Napi::Function::New(env, Compile));
  exports.Set("compileAsync", Napi::Function::New(env, CompileAsync));
  exports.Set("loadRules", Napi::Function::New(env, LoadRules));
  exports.Set("maxConcurrentScans", Napi::Number::New(env, YR_MAX_THREADS));
  return exports;
}

}  // namespace specimen

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return specimen::Init(env, exports); }

NODE_API_MODULE(specimen_yara, InitAddon)
