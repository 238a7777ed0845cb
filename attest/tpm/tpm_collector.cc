#include "attest/tpm/tpm_collector.h"

#include <openssl/crypto.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "attest/tpm/esys_util.h"
#include "attest/tpm/tpm_constants.h"
#include "attest/tpm/tpm_crypto.h"
#include "attest/tpm/tpm_evidence_codec.h"
#include "attest/tpm/tpm_structures.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::tpm {

struct TpmCollector::Handles {
  TSS2_TCTI_CONTEXT* tcti = nullptr;
  ESYS_CONTEXT* esys = nullptr;
  ESYS_TR ek = ESYS_TR_NONE;
  bool ek_transient = false;
  ESYS_TR ak = ESYS_TR_NONE;
  bool ak_transient = false;

  ~Handles() {
    if (esys != nullptr) {
      if (ak != ESYS_TR_NONE) ak_transient ? Esys_FlushContext(esys, ak) : Esys_TR_Close(esys, &ak);
      if (ek != ESYS_TR_NONE) ek_transient ? Esys_FlushContext(esys, ek) : Esys_TR_Close(esys, &ek);
      Esys_Finalize(&esys);
    }
    if (tcti != nullptr) Tss2_TctiLdr_Finalize(&tcti);
  }
};

namespace {

// TCG EK Credential Profile 2.0, template L-1 (RSA 2048, AES-128-CFB, PolicySecret EK).
constexpr std::uint8_t kEkPolicy[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

TPM2B_PUBLIC RsaEkTemplate() {
  TPM2B_PUBLIC t = {};
  TPMT_PUBLIC& p = t.publicArea;
  p.type = TPM2_ALG_RSA;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                       TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                       TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  p.authPolicy.size = sizeof(kEkPolicy);
  std::memcpy(p.authPolicy.buffer, kEkPolicy, sizeof(kEkPolicy));
  p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
  p.parameters.rsaDetail.symmetric.keyBits.aes = 128;
  p.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  p.parameters.rsaDetail.keyBits = 2048;
  p.parameters.rsaDetail.exponent = 0;
  p.unique.rsa.size = 256;  // zero-filled, as the template specifies
  return t;
}

TPM2B_PUBLIC AkTemplate() {
  TPM2B_PUBLIC t = {};
  TPMT_PUBLIC& p = t.publicArea;
  p.type = TPM2_ALG_ECC;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                       TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                       TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
  p.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
  p.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  return t;
}

absl::StatusOr<std::vector<std::uint8_t>> MarshalPublic(const TPMT_PUBLIC& public_area) {
  std::vector<std::uint8_t> out(sizeof(TPMT_PUBLIC));
  std::size_t offset = 0;
  RETURN_IF_ERROR(
      EsysStatus(Tss2_MU_TPMT_PUBLIC_Marshal(&public_area, out.data(), out.size(), &offset),
                 "marshal TPMT_PUBLIC"));
  out.resize(offset);
  return out;
}

absl::StatusOr<std::vector<std::uint8_t>> ReadPublic(ESYS_CONTEXT* esys, ESYS_TR object) {
  TPM2B_PUBLIC* public_area = nullptr;
  TPM2B_NAME* name = nullptr;
  TPM2B_NAME* qualified_name = nullptr;
  const TSS2_RC rc = Esys_ReadPublic(esys, object, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                     &public_area, &name, &qualified_name);
  EsysPtr<TPM2B_PUBLIC> owned(public_area);
  Esys_Free(name);
  Esys_Free(qualified_name);
  RETURN_IF_ERROR(EsysStatus(rc, "TPM2_ReadPublic"));
  return MarshalPublic(owned->publicArea);
}

// True when the TPM reports `handle` (a persistent object or an NV index) as defined.
bool HandleDefined(ESYS_CONTEXT* esys, std::uint32_t handle) {
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* data = nullptr;
  const TSS2_RC rc = Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                        TPM2_CAP_HANDLES, handle, 1, &more, &data);
  EsysPtr<TPMS_CAPABILITY_DATA> owned(data);
  return rc == TSS2_RC_SUCCESS && owned->data.handles.count >= 1 &&
         owned->data.handles.handle[0] == handle;
}

// An ESYS_TR for the persistent object at `handle`, or ESYS_TR_NONE when there is none.
ESYS_TR FindPersistent(ESYS_CONTEXT* esys, std::uint32_t handle) {
  ESYS_TR object = ESYS_TR_NONE;
  if (!HandleDefined(esys, handle) ||
      Esys_TR_FromTPMPublic(esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &object) !=
          TSS2_RC_SUCCESS) {
    return ESYS_TR_NONE;
  }
  return object;
}

// The contents of NV index `index`, or an empty vector when it is not defined.
absl::StatusOr<std::vector<std::uint8_t>> ReadNv(ESYS_CONTEXT* esys, std::uint32_t index) {
  ESYS_TR nv = FindPersistent(esys, index);
  if (nv == ESYS_TR_NONE) return std::vector<std::uint8_t>{};
  TPM2B_NV_PUBLIC* nv_public = nullptr;
  TPM2B_NAME* nv_name = nullptr;
  TSS2_RC rc =
      Esys_NV_ReadPublic(esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv_public, &nv_name);
  EsysPtr<TPM2B_NV_PUBLIC> owned_public(nv_public);
  Esys_Free(nv_name);
  if (absl::Status s = EsysStatus(rc, fmt::format("TPM2_NV_ReadPublic(0x{:08x})", index));
      !s.ok()) {
    Esys_TR_Close(esys, &nv);
    return s;
  }
  const std::uint16_t size = owned_public->nvPublic.dataSize;
  // Read with the index's own (empty) authorisation when it allows that, else as owner.
  const ESYS_TR auth =
      (owned_public->nvPublic.attributes & TPMA_NV_AUTHREAD) != 0 ? nv : ESYS_TR_RH_OWNER;
  std::vector<std::uint8_t> out;
  constexpr std::uint16_t kChunk = 512;  // below every TPM's MAX_NV_BUFFER_SIZE
  while (out.size() < size) {
    const std::uint16_t want =
        static_cast<std::uint16_t>(std::min<std::size_t>(kChunk, size - out.size()));
    TPM2B_MAX_NV_BUFFER* data = nullptr;
    rc = Esys_NV_Read(esys, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, want,
                      static_cast<std::uint16_t>(out.size()), &data);
    EsysPtr<TPM2B_MAX_NV_BUFFER> owned_data(data);
    if (absl::Status s = EsysStatus(rc, fmt::format("TPM2_NV_Read(0x{:08x})", index)); !s.ok()) {
      Esys_TR_Close(esys, &nv);
      return s;
    }
    if (owned_data->size == 0 || owned_data->size > want) {
      Esys_TR_Close(esys, &nv);
      return absl::InternalError(fmt::format("TPM2_NV_Read(0x{:08x}) returned a bad size", index));
    }
    out.insert(out.end(), owned_data->buffer, owned_data->buffer + owned_data->size);
  }
  Esys_TR_Close(esys, &nv);
  return out;
}

TPML_PCR_SELECTION Selection(const std::vector<std::uint32_t>& pcrs) {
  TPML_PCR_SELECTION selection = {};
  selection.count = 1;
  selection.pcrSelections[0].hash = TPM2_ALG_SHA256;
  selection.pcrSelections[0].sizeofSelect = 3;
  for (std::uint32_t pcr : pcrs) {
    selection.pcrSelections[0].pcrSelect[pcr / 8] |= static_cast<std::uint8_t>(1u << (pcr % 8));
  }
  return selection;
}

bool Empty(const TPMS_PCR_SELECTION& selection) {
  return std::all_of(selection.pcrSelect, selection.pcrSelect + selection.sizeofSelect,
                     [](std::uint8_t b) { return b == 0; });
}

// Reads every PCR of `pcrs` (ascending), looping since one TPM2_PCR_Read returns at most
// eight values; ABORTED when the PCR update counter moved between the reads.
absl::StatusOr<std::vector<std::pair<std::uint32_t, std::vector<std::uint8_t>>>> ReadPcrs(
    ESYS_CONTEXT* esys, const std::vector<std::uint32_t>& pcrs) {
  TPML_PCR_SELECTION remaining = Selection(pcrs);
  std::map<std::uint32_t, std::vector<std::uint8_t>> values;
  std::uint32_t first_counter = 0;
  for (int round = 0; !Empty(remaining.pcrSelections[0]); ++round) {
    if (round > static_cast<int>(kPcrCount))
      return absl::InternalError("TPM2_PCR_Read: no progress");
    std::uint32_t counter = 0;
    TPML_PCR_SELECTION* out_selection = nullptr;
    TPML_DIGEST* digests = nullptr;
    const TSS2_RC rc = Esys_PCR_Read(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &remaining,
                                     &counter, &out_selection, &digests);
    EsysPtr<TPML_PCR_SELECTION> owned_selection(out_selection);
    EsysPtr<TPML_DIGEST> owned_digests(digests);
    RETURN_IF_ERROR(EsysStatus(rc, "TPM2_PCR_Read"));
    if (round == 0) first_counter = counter;
    if (counter != first_counter) return absl::AbortedError("PCRs changed while being read");
    std::size_t next = 0;
    for (std::uint32_t i = 0; i < owned_selection->count; ++i) {
      const TPMS_PCR_SELECTION& s = owned_selection->pcrSelections[i];
      if (s.hash != TPM2_ALG_SHA256) continue;
      for (std::uint32_t pcr = 0; pcr < s.sizeofSelect * 8u; ++pcr) {
        if (((s.pcrSelect[pcr / 8] >> (pcr % 8)) & 1u) == 0) continue;
        if (next >= owned_digests->count) return absl::InternalError("TPM2_PCR_Read: short reply");
        const TPM2B_DIGEST& d = owned_digests->digests[next++];
        values[pcr].assign(d.buffer, d.buffer + d.size);
        remaining.pcrSelections[0].pcrSelect[pcr / 8] &=
            static_cast<std::uint8_t>(~(1u << (pcr % 8)));
      }
    }
    if (next == 0) return absl::InternalError("TPM2_PCR_Read returned no selected PCR");
  }
  std::vector<std::pair<std::uint32_t, std::vector<std::uint8_t>>> out(values.begin(),
                                                                       values.end());
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TpmCollector>> TpmCollector::Create(const std::string& tcti_conf,
                                                                   TpmCollectorOptions options) {
  if (options.pcrs.empty()) return absl::InvalidArgumentError("no PCR to quote");
  std::sort(options.pcrs.begin(), options.pcrs.end());
  options.pcrs.erase(std::unique(options.pcrs.begin(), options.pcrs.end()), options.pcrs.end());
  if (options.pcrs.back() >= kPcrCount) {
    return absl::InvalidArgumentError(fmt::format("PCR {} does not exist", options.pcrs.back()));
  }
  if (options.ak_handle != 0 && (options.ak_handle >> 24) != 0x81) {
    return absl::InvalidArgumentError("AK handle is not a persistent handle (0x81xxxxxx)");
  }
  auto handles = std::make_unique<Handles>();
  TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti_conf.c_str(), &handles->tcti);
  if (rc != TSS2_RC_SUCCESS) {
    handles->tcti = nullptr;
    return absl::UnavailableError(
        fmt::format("cannot open TPM through TCTI '{}': {}", tcti_conf, Tss2_RC_Decode(rc)));
  }
  rc = Esys_Initialize(&handles->esys, handles->tcti, nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    handles->esys = nullptr;
    return EsysStatus(rc, "Esys_Initialize");
  }
  std::unique_ptr<TpmCollector> collector(new TpmCollector(std::move(options), std::move(handles)));
  RETURN_IF_ERROR(collector->SetUpKeys());
  return collector;
}

TpmCollector::TpmCollector(TpmCollectorOptions options, std::unique_ptr<Handles> handles)
    : options_(std::move(options)), handles_(std::move(handles)) {}

TpmCollector::~TpmCollector() = default;

absl::Status TpmCollector::SetUpKeys() {
  Handles& h = *handles_;
  h.ek = FindPersistent(h.esys, options_.ek_handle);
  if (h.ek == ESYS_TR_NONE) {
    const TPM2B_SENSITIVE_CREATE sensitive = {};
    const TPM2B_PUBLIC ek_template = RsaEkTemplate();
    const TPM2B_DATA outside = {};
    const TPML_PCR_SELECTION creation_pcrs = {};
    TPM2B_PUBLIC* out_public = nullptr;
    TPM2B_CREATION_DATA* creation_data = nullptr;
    TPM2B_DIGEST* creation_hash = nullptr;
    TPMT_TK_CREATION* ticket = nullptr;
    const TSS2_RC rc =
        Esys_CreatePrimary(h.esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, &sensitive, &ek_template, &outside, &creation_pcrs, &h.ek,
                           &out_public, &creation_data, &creation_hash, &ticket);
    Esys_Free(out_public);
    Esys_Free(creation_data);
    Esys_Free(creation_hash);
    Esys_Free(ticket);
    if (rc != TSS2_RC_SUCCESS) h.ek = ESYS_TR_NONE;
    RETURN_IF_ERROR(EsysStatus(rc, "TPM2_CreatePrimary (EK, endorsement hierarchy)"));
    h.ek_transient = true;
  }
  ASSIGN_OR_RETURN(ek_public_, ReadPublic(h.esys, h.ek));
  ASSIGN_OR_RETURN(const TpmtPublic ek, ParseTpmtPublic(ek_public_));
  ASSIGN_OR_RETURN(ek_certificate_,
                   ReadNv(h.esys, ek.type == kAlgRsa ? kNvRsaEkCert : kNvEccEkCert));

  if (options_.ak_handle != 0) {
    h.ak = FindPersistent(h.esys, options_.ak_handle);
    if (h.ak == ESYS_TR_NONE && !options_.persist_ak) {
      return absl::NotFoundError(
          fmt::format("no AK at persistent handle 0x{:08x} (set persist_ak to create one)",
                      options_.ak_handle));
    }
  }
  if (h.ak == ESYS_TR_NONE) {
    const TPM2B_SENSITIVE_CREATE sensitive = {};
    const TPM2B_PUBLIC ak_template = AkTemplate();
    const TPM2B_DATA outside = {};
    const TPML_PCR_SELECTION creation_pcrs = {};
    TPM2B_PRIVATE* out_private = nullptr;
    TPM2B_PUBLIC* out_public = nullptr;
    TPM2B_CREATION_DATA* creation_data = nullptr;
    TPM2B_DIGEST* creation_hash = nullptr;
    TPMT_TK_CREATION* ticket = nullptr;
    {
      ASSIGN_OR_RETURN(const EkPolicySession session, EkPolicySession::Start(h.esys));
      const TSS2_RC rc =
          Esys_Create(h.esys, h.ek, session.handle(), ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
                      &ak_template, &outside, &creation_pcrs, &out_private, &out_public,
                      &creation_data, &creation_hash, &ticket);
      Esys_Free(creation_data);
      Esys_Free(creation_hash);
      Esys_Free(ticket);
      RETURN_IF_ERROR(EsysStatus(rc, "TPM2_Create (AK under the EK)"));
    }
    EsysPtr<TPM2B_PRIVATE> owned_private(out_private);
    EsysPtr<TPM2B_PUBLIC> owned_public(out_public);
    ASSIGN_OR_RETURN(const EkPolicySession session, EkPolicySession::Start(h.esys));
    RETURN_IF_ERROR(EsysStatus(Esys_Load(h.esys, h.ek, session.handle(), ESYS_TR_NONE, ESYS_TR_NONE,
                                         owned_private.get(), owned_public.get(), &h.ak),
                               "TPM2_Load (AK)"));
    h.ak_transient = true;
    if (options_.ak_handle != 0) {
      ESYS_TR persistent = ESYS_TR_NONE;
      RETURN_IF_ERROR(EsysStatus(
          Esys_EvictControl(h.esys, ESYS_TR_RH_OWNER, h.ak, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                            ESYS_TR_NONE, options_.ak_handle, &persistent),
          fmt::format("TPM2_EvictControl (persist AK at 0x{:08x})", options_.ak_handle)));
      Esys_FlushContext(h.esys, h.ak);
      h.ak = persistent;
      h.ak_transient = false;
    }
  }
  ASSIGN_OR_RETURN(ak_public_, ReadPublic(h.esys, h.ak));
  return absl::OkStatus();
}

absl::StatusOr<TpmQuoteEvidence> TpmCollector::QuoteOnce(
    std::span<const std::uint8_t, 32> extra_data, bool& pcrs_changed) {
  Handles& h = *handles_;
  TPM2B_DATA qualifying = {};
  qualifying.size = static_cast<UINT16>(extra_data.size());
  std::memcpy(qualifying.buffer, extra_data.data(), extra_data.size());
  const TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL, .details = {}};
  const TPML_PCR_SELECTION selection = Selection(options_.pcrs);
  TPM2B_ATTEST* quoted = nullptr;
  TPMT_SIGNATURE* signature = nullptr;
  const TSS2_RC rc = Esys_Quote(h.esys, h.ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                &qualifying, &scheme, &selection, &quoted, &signature);
  EsysPtr<TPM2B_ATTEST> owned_quoted(quoted);
  EsysPtr<TPMT_SIGNATURE> owned_signature(signature);
  RETURN_IF_ERROR(EsysStatus(rc, "TPM2_Quote"));

  TpmQuoteEvidence evidence;
  evidence.attest.assign(owned_quoted->attestationData,
                         owned_quoted->attestationData + owned_quoted->size);
  evidence.signature.resize(sizeof(TPMT_SIGNATURE));
  std::size_t offset = 0;
  RETURN_IF_ERROR(
      EsysStatus(Tss2_MU_TPMT_SIGNATURE_Marshal(owned_signature.get(), evidence.signature.data(),
                                                evidence.signature.size(), &offset),
                 "marshal TPMT_SIGNATURE"));
  evidence.signature.resize(offset);
  ASSIGN_OR_RETURN(evidence.pcrs, ReadPcrs(h.esys, options_.pcrs));

  // The values read must be the values quoted; a PCR extended in between is retried.
  ASSIGN_OR_RETURN(const TpmsAttestQuote parsed, ParseTpmsAttestQuote(evidence.attest));
  std::vector<std::uint8_t> concatenated;
  for (const auto& [index, value] : evidence.pcrs) {
    concatenated.insert(concatenated.end(), value.begin(), value.end());
  }
  const Sha256Digest digest = Sha256({concatenated});
  pcrs_changed = parsed.pcr_digest.size() != digest.size() ||
                 std::memcmp(parsed.pcr_digest.data(), digest.data(), digest.size()) != 0;
  evidence.ak_public = ak_public_;
  evidence.ek_public = ek_public_;
  evidence.ek_certificate = ek_certificate_;
  return evidence;
}

absl::StatusOr<TpmQuoteEvidence> TpmCollector::CollectQuote(
    std::span<const std::uint8_t> binding_input) {
  const Sha256Digest extra_data = Sha256({binding_input});
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool pcrs_changed = false;
    absl::StatusOr<TpmQuoteEvidence> evidence = QuoteOnce(extra_data, pcrs_changed);
    if (!evidence.ok() && !absl::IsAborted(evidence.status())) return evidence.status();
    if (evidence.ok() && !pcrs_changed) return evidence;
  }
  return absl::AbortedError("PCRs changed between the quote and the PCR read twice; retry later");
}

absl::StatusOr<std::vector<std::uint8_t>> TpmCollector::Collect(
    std::span<const std::uint8_t> binding_input) {
  ASSIGN_OR_RETURN(const TpmQuoteEvidence evidence, CollectQuote(binding_input));
  return EncodeTpmEvidence(evidence);
}

absl::StatusOr<SecretBytes> TpmCollector::ActivateCredential(
    std::span<const std::uint8_t> credential_blob, std::span<const std::uint8_t> encrypted_secret) {
  TPM2B_ID_OBJECT blob = {};
  TPM2B_ENCRYPTED_SECRET secret = {};
  if (credential_blob.empty() || credential_blob.size() > sizeof(blob.credential) ||
      encrypted_secret.empty() || encrypted_secret.size() > sizeof(secret.secret)) {
    return absl::InvalidArgumentError(fmt::format(
        "credential blob ({} bytes) or encrypted secret ({} bytes) has an impossible size",
        credential_blob.size(), encrypted_secret.size()));
  }
  blob.size = static_cast<UINT16>(credential_blob.size());
  std::memcpy(blob.credential, credential_blob.data(), credential_blob.size());
  secret.size = static_cast<UINT16>(encrypted_secret.size());
  std::memcpy(secret.secret, encrypted_secret.data(), encrypted_secret.size());

  Handles& h = *handles_;
  ASSIGN_OR_RETURN(const EkPolicySession session, EkPolicySession::Start(h.esys));
  TPM2B_DIGEST* cert_info = nullptr;
  const TSS2_RC rc = Esys_ActivateCredential(h.esys, h.ak, h.ek, ESYS_TR_PASSWORD, session.handle(),
                                             ESYS_TR_NONE, &blob, &secret, &cert_info);
  EsysPtr<TPM2B_DIGEST> owned(cert_info);
  if (rc != TSS2_RC_SUCCESS) {
    const absl::Status status = EsysStatus(rc, "TPM2_ActivateCredential");
    if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER) {
      return absl::PermissionDeniedError(
          fmt::format("the TPM refused the credential (made for another EK or AK, or altered): {}",
                      std::string(status.message())));
    }
    return status;
  }
  SecretBytes out = SecretBytes::CopyFrom({owned->buffer, owned->size});
  OPENSSL_cleanse(owned->buffer, sizeof(owned->buffer));
  return out;
}

}  // namespace cloak::attest::tpm
