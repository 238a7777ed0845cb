#pragma once

// Throwaway TLS certificates for the cloakctl integration test, made once per process
// with the openssl CLI (test-only keys): a CA; a server certificate for localhost and
// 127.0.0.1; an admin client certificate ("client"); a second CA ("other-ca") and a
// client certificate it signed ("rogue-client"). Files are NAME.pem and NAME.key.

#include <string>

namespace cloak::cli::testing {

class Pki {
 public:
  // The process-wide instance; ok() is false (and the test failed) when openssl failed.
  static const Pki& Get();

  bool ok() const { return ok_; }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  Pki();
  bool MakeCa(const std::string& name);
  bool MakeLeaf(const std::string& name, const std::string& cn, const std::string& ca,
                const std::string& ext);

  std::string dir_;
  bool ok_ = false;
};

}  // namespace cloak::cli::testing
