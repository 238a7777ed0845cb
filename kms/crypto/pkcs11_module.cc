#include "kms/crypto/pkcs11_module.h"

#include <dlfcn.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <system_error>

#include "fmt/format.h"
#include "kms/crypto/pkcs11_error.h"

namespace cloak::kms {
namespace {

struct LoadedModule {
  void* handle = nullptr;
  CK_FUNCTION_LIST* functions = nullptr;
  int users = 0;
};

// Modules loaded by this process, by canonical path. Never destroyed, so that a module
// released during static destruction still finds it.
struct Registry {
  std::mutex mutex;
  std::map<std::string, LoadedModule> modules;
};

Registry& TheRegistry() {
  static Registry* registry = new Registry;
  return *registry;
}

absl::StatusOr<LoadedModule> LoadAndInitialize(const std::string& path) {
  // RTLD_NODELETE: modules register atexit handlers and thread-local destructors (the
  // OpenSSL inside SoftHSM does), which must not point into unmapped code.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* error = ::dlerror();
    return absl::FailedPreconditionError(
        fmt::format("cannot load PKCS#11 module {}: {}", path, error != nullptr ? error : "?"));
  }
  auto get_function_list =
      reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
  if (get_function_list == nullptr) {
    ::dlclose(handle);
    return absl::FailedPreconditionError(
        fmt::format("{} is not a PKCS#11 module: it exports no C_GetFunctionList", path));
  }
  CK_FUNCTION_LIST* functions = nullptr;
  CK_RV rv = get_function_list(&functions);
  if (rv != CKR_OK || functions == nullptr) {
    ::dlclose(handle);
    return CkrToStatus(rv == CKR_OK ? CKR_GENERAL_ERROR : rv, "C_GetFunctionList",
                       fmt::format("PKCS#11 module {}", path));
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  rv = functions->C_Initialize(&args);
  if (rv != CKR_OK) {
    ::dlclose(handle);
    return CkrToStatus(rv, "C_Initialize", fmt::format("PKCS#11 module {}", path));
  }
  return LoadedModule{handle, functions, 0};
}

}  // namespace

absl::StatusOr<std::shared_ptr<Pkcs11Module>> Pkcs11Module::Load(const std::string& path) {
  std::error_code error;
  const std::filesystem::path canonical = std::filesystem::canonical(path, error);
  if (error) {
    return absl::NotFoundError(
        fmt::format("PKCS#11 module {} not found: {}", path, error.message()));
  }
  Registry& registry = TheRegistry();
  std::lock_guard lock(registry.mutex);
  auto it = registry.modules.find(canonical.string());
  if (it == registry.modules.end()) {
    absl::StatusOr<LoadedModule> loaded = LoadAndInitialize(canonical.string());
    if (!loaded.ok()) return loaded.status();
    it = registry.modules.emplace(canonical.string(), *loaded).first;
  }
  ++it->second.users;
  return std::shared_ptr<Pkcs11Module>(new Pkcs11Module(it->first, it->second.functions),
                                       &Pkcs11Module::Release);
}

void Pkcs11Module::Release(Pkcs11Module* module) {
  Registry& registry = TheRegistry();
  {
    std::lock_guard lock(registry.mutex);
    auto it = registry.modules.find(module->path_);
    if (it != registry.modules.end() && --it->second.users == 0) {
      it->second.functions->C_Finalize(nullptr);
      ::dlclose(it->second.handle);
      registry.modules.erase(it);
    }
  }
  delete module;
}

}  // namespace cloak::kms
