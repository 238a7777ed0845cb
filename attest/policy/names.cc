#include "attest/policy/policy.h"

namespace cloak::attest::policy {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kNode:
      return "node";
    case Role::kController:
      return "controller";
  }
  return "unknown";
}

std::string_view OperationName(Operation operation) {
  switch (operation) {
    case Operation::kCreateKey:
      return "CreateVolumeKey";
    case Operation::kGetKey:
      return "GetVolumeKey";
    case Operation::kReportState:
      return "ReportVolumeState";
    case Operation::kDestroyKey:
      return "DestroyVolumeKey";
    case Operation::kCloneKey:
      return "CloneVolumeKey";
  }
  return "unknown";
}

std::string_view TeeName(Tee tee) {
  switch (tee) {
    case Tee::kSevSnp:
      return "sev-snp";
    case Tee::kTpm:
      return "tpm";
    case Tee::kNone:
      return "none";
  }
  return "unknown";
}

std::string_view ProductName(SnpProduct product) {
  switch (product) {
    case SnpProduct::kMilan:
      return "milan";
    case SnpProduct::kGenoa:
      return "genoa";
    case SnpProduct::kTurin:
      return "turin";
  }
  return "unknown";
}

}  // namespace cloak::attest::policy
