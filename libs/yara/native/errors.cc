#include <cmath>

#include "common.h"

namespace specimen {

namespace {

struct ErrorName {
  int error;
  const char* name;
  const char* description;
};

const ErrorName kErrors[] = {
    {ERROR_INSUFFICIENT_MEMORY, "INSUFFICIENT_MEMORY", "insufficient memory"},
    {ERROR_COULD_NOT_OPEN_FILE, "COULD_NOT_OPEN_FILE", "could not open file"},
    {ERROR_COULD_NOT_MAP_FILE, "COULD_NOT_MAP_FILE", "could not map file"},
    {ERROR_INVALID_FILE, "INVALID_FILE", "invalid compiled rules file"},
    {ERROR_CORRUPT_FILE, "CORRUPT_FILE", "corrupt compiled rules file"},
    {ERROR_UNSUPPORTED_FILE_VERSION, "UNSUPPORTED_FILE_VERSION",
     "compiled rules file from another YARA version"},
    {ERROR_SCAN_TIMEOUT, "SCAN_TIMEOUT", "scan timed out"},
    {ERROR_TOO_MANY_SCAN_THREADS, "TOO_MANY_SCAN_THREADS", "too many concurrent scans"},
    {ERROR_CALLBACK_ERROR, "CALLBACK_ERROR", "scan callback failed"},
    {ERROR_INVALID_ARGUMENT, "INVALID_ARGUMENT", "invalid argument"},
    {ERROR_TOO_MANY_MATCHES, "TOO_MANY_MATCHES", "too many matches"},
    {ERROR_INTERNAL_FATAL_ERROR, "INTERNAL_FATAL_ERROR", "internal fatal error"},
    {ERROR_EXEC_STACK_OVERFLOW, "EXEC_STACK_OVERFLOW", "condition evaluation stack overflow"},
    {ERROR_TOO_MANY_RE_FIBERS, "TOO_MANY_RE_FIBERS", "regular expression too complex at scan time"},
    {ERROR_COULD_NOT_READ_FILE, "COULD_NOT_READ_FILE", "could not read file"},
    {ERROR_INVALID_EXTERNAL_VARIABLE_TYPE, "INVALID_EXTERNAL_VARIABLE_TYPE",
     "external variable has another type"},
    {ERROR_WRITING_FILE, "WRITING_FILE", "could not write file"},
    {ERROR_INVALID_MODULE_DATA, "INVALID_MODULE_DATA", "invalid module data"},
    {ERROR_BLOCK_NOT_READY, "BLOCK_NOT_READY", "memory block not ready"},
};

}  // namespace

std::string ErrorCode(int error) {
  for (const auto& entry : kErrors) {
    if (entry.error == error) return std::string("YARA_ERROR_") + entry.name;
  }
  return "YARA_ERROR_" + std::to_string(error);
}

std::string ErrorDescription(int error) {
  for (const auto& entry : kErrors) {
    if (entry.error == error) return entry.description;
  }
  return "libyara error " + std::to_string(error);
}

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

std::vector<ExternalValue> ReadExternals(Napi::Env env, Napi::Value value) {
  std::vector<ExternalValue> externals;
  if (value.IsUndefined() || value.IsNull()) return externals;
  if (!value.IsObject()) throw Napi::TypeError::New(env, "externals must be an object");
  Napi::Object object = value.As<Napi::Object>();
  Napi::Array names = object.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); i++) {
    ExternalValue external;
    external.name = names.Get(i).ToString().Utf8Value();
    Napi::Value v = object.Get(external.name);
    if (v.IsBoolean()) {
      external.kind = ExternalValue::Kind::Boolean;
      external.integer = v.As<Napi::Boolean>().Value() ? 1 : 0;
    } else if (v.IsNumber()) {
      double number = v.As<Napi::Number>().DoubleValue();
      // Integral values within int64 are YARA integers; everything else is a float.
      if (std::isfinite(number) && std::trunc(number) == number && std::fabs(number) < 9.2e18) {
        external.kind = ExternalValue::Kind::Integer;
        external.integer = static_cast<int64_t>(number);
      } else {
        external.kind = ExternalValue::Kind::Float;
      }
      external.real = number;
    } else if (v.IsString()) {
      external.kind = ExternalValue::Kind::String;
      external.text = v.As<Napi::String>().Utf8Value();
      if (external.text.find('\0') != std::string::npos) {
        throw Napi::TypeError::New(env, "external '" + external.name + "' contains a NUL character");
      }
    } else {
      throw Napi::TypeError::New(env, "external '" + external.name + "' must be a string, number or boolean");
    }
    externals.push_back(std::move(external));
  }
  return externals;
}

int DefineScannerExternals(YR_SCANNER* scanner, const std::vector<ExternalValue>& externals,
                           std::string* failedName) {
  for (const auto& external : externals) {
    const char* name = external.name.c_str();
    int result = ERROR_SUCCESS;
    switch (external.kind) {
      case ExternalValue::Kind::Integer:
        result = yr_scanner_define_integer_variable(scanner, name, external.integer);
        // A whole number given for a variable declared as float at compile time.
        if (result == ERROR_INVALID_EXTERNAL_VARIABLE_TYPE) {
          result = yr_scanner_define_float_variable(scanner, name, external.real);
        }
        break;
      case ExternalValue::Kind::Float:
        result = yr_scanner_define_float_variable(scanner, name, external.real);
        break;
      case ExternalValue::Kind::Boolean:
        result = yr_scanner_define_boolean_variable(scanner, name, static_cast<int>(external.integer));
        break;
      case ExternalValue::Kind::String:
        result = yr_scanner_define_string_variable(scanner, name, external.text.c_str());
        break;
    }
    if (result != ERROR_SUCCESS) {
      *failedName = external.name;
      return result;
    }
  }
  return ERROR_SUCCESS;
}

}  // namespace specimen
