#pragma once

// A throwaway software TPM for tests: a TPM 2.0 state manufactured by swtpm_setup (RSA
// and ECC EKs, EK certificates signed by a CA made for this instance), served by
// `swtpm socket` on two free loopback ports, killed and deleted on destruction.
//
//   ASSERT_OK_AND_ASSIGN(auto tpm, Swtpm::Start());
//   auto collector = TpmCollector::Create(tpm->TctiConf(), {});
//   TpmTrustConfig trust{.ek_ca_certificates_pem = {tpm->CaCertificatePem()}};

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace cloak::attest::tpm::testing {

struct SwtpmOptions {
  // Subject CN of the CA that signs the EK certificates.
  std::string ca_common_name = "Cloak test EK CA";
};

class Swtpm {
 public:
  // True when swtpm, swtpm_setup, swtpm_localca and openssl are installed.
  static bool Available();

  // Makes a temp dir with a CA and a manufactured TPM state, then starts swtpm on it.
  // UNAVAILABLE when a tool is missing or swtpm does not start listening within 10 s.
  static absl::StatusOr<std::unique_ptr<Swtpm>> Start(SwtpmOptions options = {});
  ~Swtpm();
  Swtpm(const Swtpm&) = delete;
  Swtpm& operator=(const Swtpm&) = delete;

  // The TCTI configuration for Tss2_TctiLdr_Initialize ("swtpm:host=127.0.0.1,port=N").
  std::string TctiConf() const;
  // The PEM certificate of the CA that signed this TPM's EK certificates.
  const std::string& CaCertificatePem() const { return ca_pem_; }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

  // TPM2_PCR_Extend of SHA-256 PCR `pcr` with SHA-256(`data`), on a connection of its own.
  absl::Status ExtendPcr(std::uint32_t pcr, std::span<const std::uint8_t> data);

 private:
  Swtpm(std::string dir, std::string ca_pem) : dir_(std::move(dir)), ca_pem_(std::move(ca_pem)) {}
  absl::Status Launch();

  std::string dir_;
  std::string ca_pem_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace cloak::attest::tpm::testing
