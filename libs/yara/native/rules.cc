#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common.h"

namespace specimen {

namespace {

class NativeRules;

struct ScanOptions {
  int timeoutSeconds = 0;
  bool fastMode = false;
  uint32_t maxMatchesPerString = 1000;
  uint32_t maxMatchesPerScan = 10000;
  std::vector<ExternalValue> externals;
};

struct StringHit {
  const char* identifier;
  int64_t offset;
  int32_t length;
};

struct RuleHit {
  const YR_RULE* rule;
  std::vector<StringHit> strings;
};

// Owns the YR_RULES. Scans hold a reference to the JS wrapper, so the GC cannot collect it mid-scan,
// and destroy() only frees once the last scan has reported back.
class NativeRules : public Napi::ObjectWrap<NativeRules> {
 public:
  static Napi::Function DefineClass(Napi::Env env) {
    return ObjectWrap<NativeRules>::DefineClass(
        env, "NativeRules",
        {
            InstanceMethod<&NativeRules::ScanBuffer>("scanBuffer"),
            InstanceMethod<&NativeRules::ScanFile>("scanFile"),
            InstanceMethod<&NativeRules::Save>("save"),
            InstanceMethod<&NativeRules::Destroy>("destroy"),
            InstanceAccessor<&NativeRules::RuleCount>("ruleCount"),
            InstanceAccessor<&NativeRules::InFlight>("inFlight"),
        });
  }

  explicit NativeRules(const Napi::CallbackInfo& info) : ObjectWrap<NativeRules>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      throw Napi::TypeError::New(info.Env(), "NativeRules cannot be constructed from JavaScript");
    }
    rules_ = info[0].As<Napi::External<YR_RULES>>().Data();
    const YR_RULE* rule = nullptr;
    yr_rules_foreach(rules_, rule) { ruleCount_++; }
  }

  ~NativeRules() override {
    if (rules_ != nullptr) yr_rules_destroy(rules_);
  }

  YR_RULES* rules() const { return rules_; }

  void ScanFinished() {
    inFlight_--;
    if (destroyRequested_ && inFlight_ == 0) Free();
  }

 private:
  Napi::Value ScanBuffer(const Napi::CallbackInfo& info);
  Napi::Value ScanFile(const Napi::CallbackInfo& info);

  Napi::Value Save(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireAlive(env);
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "save(path)");
    std::string path = info[0].As<Napi::String>().Utf8Value();
    int result = yr_rules_save(rules_, path.c_str());
    if (result != ERROR_SUCCESS) {
      throw MakeError(env, ErrorCode(result), "cannot save rules to " + path + ": " + ErrorDescription(result));
    }
    return env.Undefined();
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    destroyRequested_ = true;
    if (inFlight_ == 0) Free();
    return info.Env().Undefined();
  }

  Napi::Value RuleCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ruleCount_); }
  Napi::Value InFlight(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), inFlight_); }

  void Free() {
    if (rules_ != nullptr) {
      yr_rules_destroy(rules_);
      rules_ = nullptr;
    }
  }

  void RequireAlive(Napi::Env env) const {
    if (destroyRequested_ || rules_ == nullptr) {
      throw MakeError(env, "YARA_ERROR_RULES_DESTROYED", "the rules were destroyed");
    }
  }

  ScanOptions ReadOptions(Napi::Env env, Napi::Value value) const {
    ScanOptions options;
    if (!value.IsObject()) return options;
    Napi::Object o = value.As<Napi::Object>();
    Napi::Value timeout = o.Get("timeoutSeconds");
    if (timeout.IsNumber()) options.timeoutSeconds = timeout.As<Napi::Number>().Int32Value();
    options.fastMode = o.Get("fastMode").ToBoolean().Value();
    Napi::Value cap = o.Get("maxMatchesPerString");
    if (cap.IsNumber()) options.maxMatchesPerString = cap.As<Napi::Number>().Uint32Value();
    Napi::Value scanCap = o.Get("maxMatchesPerScan");
    if (scanCap.IsNumber()) options.maxMatchesPerScan = scanCap.As<Napi::Number>().Uint32Value();
    options.externals = ReadExternals(env, o.Get("externals"));
    return options;
  }

  Napi::Value StartScan(const Napi::CallbackInfo& info, bool isFile);

  YR_RULES* rules_ = nullptr;
  uint32_t ruleCount_ = 0;
  uint32_t inFlight_ = 0;
  bool destroyRequested_ = false;
};

class ScanWorker : public Napi::AsyncWorker {
 public:
  ScanWorker(Napi::Env env, NativeRules* owner, ScanOptions options)
      : Napi::AsyncWorker(env, "specimen_yara.scan"),
        deferred_(Napi::Promise::Deferred::New(env)),
        owner_(owner),
        rules_(owner->rules()),
        options_(std::move(options)) {
    ownerRef_ = Napi::Persistent(owner->Value());
  }

  void SetBuffer(Napi::Uint8Array buffer) {
    bufferRef_ = Napi::Persistent(buffer.As<Napi::Object>());
    data_ = buffer.Data();
    size_ = buffer.ByteLength();
  }

  void SetPath(std::string path) {
    isFile_ = true;
    path_ = std::move(path);
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    auto start = std::chrono::steady_clock::now();
    YR_SCANNER* scanner = nullptr;
    int result = yr_scanner_create(rules_, &scanner);
    if (result != ERROR_SUCCESS) {
      Fail(result, "cannot create scanner");
      return;
    }
    yr_scanner_set_callback(scanner, &ScanWorker::OnScanMessage, this);
    yr_scanner_set_flags(scanner, options_.fastMode ? SCAN_FLAGS_FAST_MODE : 0);
    if (options_.timeoutSeconds > 0) yr_scanner_set_timeout(scanner, options_.timeoutSeconds);
    std::string failedName;
    result = DefineScannerExternals(scanner, options_.externals, &failedName);
    if (result != ERROR_SUCCESS) {
      yr_scanner_destroy(scanner);
      Fail(result, "cannot set external variable '" + failedName + "' (not declared at compile time, or of another type)");
      return;
    }
    result = isFile_ ? ScanPath(scanner) : ScanMemory(scanner, data_, size_);
    yr_scanner_destroy(scanner);
    durationMs_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (result == ERROR_SCAN_TIMEOUT) {
      timedOut_ = true;
    } else if (result != ERROR_SUCCESS && errorCode_.empty()) {
      Fail(result, isFile_ ? "cannot scan " + path_ : "cannot scan buffer");
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    Napi::Array matches = Napi::Array::New(env, hits_.size());
    for (size_t i = 0; i < hits_.size(); i++) matches.Set(static_cast<uint32_t>(i), MatchToJs(env, hits_[i]));
    out.Set("matches", matches);
    out.Set("timedOut", timedOut_);
    out.Set("durationMs", durationMs_);
    owner_->ScanFinished();
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& error) override {
    Napi::Error coded = MakeError(Env(), errorCode_.empty() ? "YARA_ERROR_UNKNOWN" : errorCode_, error.Message());
    owner_->ScanFinished();
    deferred_.Reject(coded.Value());
  }

 private:
  void Fail(int result, const std::string& what) {
    errorCode_ = ErrorCode(result);
    SetError(what + ": " + ErrorDescription(result));
  }

  int ScanMemory(YR_SCANNER* scanner, const uint8_t* data, size_t size) {
    static const uint8_t empty = 0;
    return yr_scanner_scan_mem(scanner, size == 0 ? &empty : data, size);
  }

  // Opens the file ourselves so a FIFO cannot block a pool thread and a 0-byte file (which mmap
  // refuses) scans as an empty buffer; then libyara maps it.
  int ScanPath(YR_SCANNER* scanner) {
    int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      errorCode_ = ErrorCode(ERROR_COULD_NOT_OPEN_FILE);
      SetError("cannot open " + path_ + ": " + std::strerror(errno));
      return ERROR_COULD_NOT_OPEN_FILE;
    }
    struct stat info;
    int result = ERROR_SUCCESS;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
      errorCode_ = ErrorCode(ERROR_COULD_NOT_OPEN_FILE);
      SetError("cannot scan " + path_ + ": not a regular file");
      result = ERROR_COULD_NOT_OPEN_FILE;
    } else if (info.st_size == 0) {
      result = ScanMemory(scanner, nullptr, 0);
    } else {
      result = yr_scanner_scan_fd(scanner, fd);
    }
    close(fd);
    return result;
  }

  static int OnScanMessage(YR_SCAN_CONTEXT* context, int message, void* messageData, void* userData) {
    if (message != CALLBACK_MSG_RULE_MATCHING) return CALLBACK_CONTINUE;
    auto* self = static_cast<ScanWorker*>(userData);
    // Runs inside libyara's C frames: no exception may escape.
    try {
      const auto* rule = static_cast<const YR_RULE*>(messageData);
      RuleHit hit{rule, {}};
      const YR_STRING* string = nullptr;
      yr_rule_strings_foreach(rule, string) {
        uint32_t kept = 0;
        const YR_MATCH* match = nullptr;
        yr_string_matches_foreach(context, string, match) {
          if (kept++ >= self->options_.maxMatchesPerString) break;
          // The rule is still reported; only where its strings matched stops being recorded.
          if (self->keptInScan_ >= self->options_.maxMatchesPerScan) break;
          self->keptInScan_++;
          hit.strings.push_back({string->identifier, match->base + match->offset, match->match_length});
        }
      }
      self->hits_.push_back(std::move(hit));
      return CALLBACK_CONTINUE;
    } catch (...) {
      return CALLBACK_ERROR;
    }
  }

  static Napi::Object MatchToJs(Napi::Env env, const RuleHit& hit) {
    const YR_RULE* rule = hit.rule;
    Napi::Object o = Napi::Object::New(env);
    o.Set("rule", rule->identifier);
    o.Set("namespace", rule->ns->name);
    Napi::Array tags = Napi::Array::New(env);
    const char* tag = nullptr;
    yr_rule_tags_foreach(rule, tag) { tags.Set(tags.Length(), tag); }
    o.Set("tags", tags);
    Napi::Object meta = Napi::Object::New(env);
    const YR_META* m = nullptr;
    yr_rule_metas_foreach(rule, m) {
      // YARA allows repeated meta keys; the first one wins, as in yara-python.
      if (meta.HasOwnProperty(m->identifier)) continue;
      switch (m->type) {
        case META_TYPE_INTEGER:
          meta.Set(m->identifier, Napi::Number::New(env, static_cast<double>(m->integer)));
          break;
        case META_TYPE_BOOLEAN:
          meta.Set(m->identifier, Napi::Boolean::New(env, m->integer != 0));
          break;
        default:
          meta.Set(m->identifier, Napi::String::New(env, m->string != nullptr ? m->string : ""));
          break;
      }
    }
    o.Set("meta", meta);
    Napi::Array strings = Napi::Array::New(env, hit.strings.size());
    for (size_t i = 0; i < hit.strings.size(); i++) {
      Napi::Object s = Napi::Object::New(env);
      s.Set("identifier", hit.strings[i].identifier);
      s.Set("offset", Napi::Number::New(env, static_cast<double>(hit.strings[i].offset)));
      s.Set("length", hit.strings[i].length);
      strings.Set(static_cast<uint32_t>(i), s);
    }
    o.Set("strings", strings);
    return o;
  }

  Napi::Promise::Deferred deferred_;
  NativeRules* owner_;
  Napi::ObjectReference ownerRef_;
  Napi::ObjectReference bufferRef_;
  YR_RULES* rules_;
  ScanOptions options_;
  bool isFile_ = false;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::vector<RuleHit> hits_;
  uint32_t keptInScan_ = 0;
  bool timedOut_ = false;
  double durationMs_ = 0;
  std::string errorCode_;
};

Napi::Value NativeRules::StartScan(const Napi::CallbackInfo& info, bool isFile) {
  Napi::Env env = info.Env();
  RequireAlive(env);
  ScanOptions options = ReadOptions(env, info.Length() > 1 ? info[1] : env.Undefined());
  if (isFile) {
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "scanFile(path, options)");
  } else if (info.Length() < 1 || !info[0].IsTypedArray() ||
             info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(env, "scanBuffer(buffer, options) needs a Buffer or Uint8Array");
  }
  auto* worker = new ScanWorker(env, this, std::move(options));
  if (isFile) {
    worker->SetPath(info[0].As<Napi::String>().Utf8Value());
  } else {
    worker->SetBuffer(info[0].As<Napi::Uint8Array>());
  }
  inFlight_++;
  worker->Queue();
  return worker->Promise();
}

Napi::Value NativeRules::ScanBuffer(const Napi::CallbackInfo& info) { return StartScan(info, false); }
Napi::Value NativeRules::ScanFile(const Napi::CallbackInfo& info) { return StartScan(info, true); }

}  // namespace

Napi::Function InitRulesClass(Napi::Env env) { return NativeRules::DefineClass(env); }

Napi::Object WrapRules(Napi::Env env, YR_RULES* rules) {
  auto* data = env.GetInstanceData<AddonData>();
  return data->rulesConstructor.New({Napi::External<YR_RULES>::New(env, rules)});
}

}  // namespace specimen
