// Shared declarations of the specimen_yara addon.
#pragma once

#include <napi.h>
#include <yara.h>

#include <cstdint>
#include <string>
#include <vector>

namespace specimen {

// Per-environment state: each worker_thread loads its own instance of the addon.
struct AddonData {
  Napi::FunctionReference rulesConstructor;
};

// "YARA_ERROR_COULD_NOT_OPEN_FILE" style code for a libyara error number.
std::string ErrorCode(int error);
// Short English description of a libyara error number.
std::string ErrorDescription(int error);
// A JS Error carrying a `code` property.
Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message);

struct ExternalValue {
  enum class Kind { Integer, Float, Boolean, String };
  std::string name;
  Kind kind = Kind::Integer;
  int64_t integer = 0;
  double real = 0;
  std::string text;
};

// Reads a plain object of string | number | boolean values; throws a TypeError otherwise.
std::vector<ExternalValue> ReadExternals(Napi::Env env, Napi::Value value);
// Defines the variables on a scanner; returns a libyara error and the failing name.
int DefineScannerExternals(YR_SCANNER* scanner, const std::vector<ExternalValue>& externals,
                           std::string* failedName);

Napi::Function InitRulesClass(Napi::Env env);
Napi::Object WrapRules(Napi::Env env, YR_RULES* rules);

Napi::Value Compile(const Napi::CallbackInfo& info);
Napi::Value CompileAsync(const Napi::CallbackInfo& info);
Napi::Value LoadRules(const Napi::CallbackInfo& info);

}  // namespace specimen
