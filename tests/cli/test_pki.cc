#include "tests/cli/test_pki.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "tests/cli/child_process.h"

namespace cloak::cli::testing {
namespace {

bool Openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  Result r = RunProcess(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0;
}

}  // namespace

const Pki& Pki::Get() {
  static const Pki* pki = new Pki();
  return *pki;
}

Pki::Pki() {
  std::string pattern = std::filesystem::temp_directory_path() / "cloakctl-pki-XXXXXX";
  dir_ = mkdtemp(pattern.data());
  std::ofstream(Path("server.ext")) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                       "extendedKeyUsage=serverAuth\n";
  std::ofstream(Path("client.ext")) << "extendedKeyUsage=clientAuth\n";
  ok_ = MakeCa("ca") && MakeCa("other-ca") && MakeLeaf("server", "localhost", "ca", "server.ext") &&
        MakeLeaf("client", "cloak-admin", "ca", "client.ext") &&
        MakeLeaf("rogue-client", "cloak-admin", "other-ca", "client.ext");
}

bool Pki::MakeCa(const std::string& name) {
  return Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", Path(name + ".key"), "-out", Path(name + ".pem"), "-days", "2",
                  "-subj", "/CN=cloak test " + name});
}

bool Pki::MakeLeaf(const std::string& name, const std::string& cn, const std::string& ca,
                   const std::string& ext) {
  return Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", Path(name + ".key"), "-out", Path(name + ".csr"), "-subj",
                  "/CN=" + cn}) &&
         Openssl({"x509", "-req", "-in", Path(name + ".csr"), "-CA", Path(ca + ".pem"), "-CAkey",
                  Path(ca + ".key"), "-CAcreateserial", "-out", Path(name + ".pem"), "-days", "2",
                  "-extfile", Path(ext)});
}

}  // namespace cloak::cli::testing
