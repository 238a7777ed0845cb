#include "attest/tpm/esys_util.h"

#include <tss2/tss2_rc.h>

#include "fmt/format.h"

namespace cloak::attest::tpm {

absl::Status EsysStatus(TSS2_RC rc, std::string_view what) {
  if (rc == TSS2_RC_SUCCESS) return absl::OkStatus();
  const std::string message = fmt::format("{} failed: {}", what, Tss2_RC_Decode(rc));
  const TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
  if (layer == TSS2_TCTI_RC_LAYER) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

absl::StatusOr<EkPolicySession> EkPolicySession::Start(ESYS_CONTEXT* esys) {
  const TPMT_SYM_DEF symmetric = {.algorithm = TPM2_ALG_NULL, .keyBits = {}, .mode = {}};
  ESYS_TR session = ESYS_TR_NONE;
  TSS2_RC rc = Esys_StartAuthSession(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                     ESYS_TR_NONE, nullptr, TPM2_SE_POLICY, &symmetric,
                                     TPM2_ALG_SHA256, &session);
  if (absl::Status s = EsysStatus(rc, "TPM2_StartAuthSession (EK policy)"); !s.ok()) return s;
  EkPolicySession out(esys, session);
  TPM2B_TIMEOUT* timeout = nullptr;
  TPMT_TK_AUTH* ticket = nullptr;
  rc = Esys_PolicySecret(esys, ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, nullptr, nullptr, nullptr, 0, &timeout, &ticket);
  Esys_Free(timeout);
  Esys_Free(ticket);
  if (absl::Status s = EsysStatus(rc, "TPM2_PolicySecret (endorsement)"); !s.ok()) return s;
  return out;
}

EkPolicySession::~EkPolicySession() {
  if (handle_ != ESYS_TR_NONE) Esys_FlushContext(esys_, handle_);
}

}  // namespace cloak::attest::tpm
