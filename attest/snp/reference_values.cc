#include "attest/snp/reference_values.h"

#include <algorithm>
#include <string_view>

#include "fmt/format.h"

namespace cloak::attest::snp {
namespace {

absl::Status Deny(std::string_view check, std::string_view why) {
  return absl::PermissionDeniedError(fmt::format("{}: {}", check, why));
}

template <typename T>
bool Contains(const std::vector<T>& list, const T& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

absl::Status CheckSnpReferenceValues(const SnpReferenceValues& ref, const SnpClaims& c) {
  if (c.debug_allowed() && !ref.allow_debug) {
    return Deny("debug",
                "the guest policy allows debugging (bit 19), so the host can read guest memory; "
                "relaunch the guest without debug");
  }
  if (c.vmpl > ref.max_vmpl) {
    return Deny("vmpl",
                fmt::format("the report was requested at VMPL {}, above the allowed maximum {}",
                            c.vmpl, ref.max_vmpl));
  }
  if (ref.measurements.empty()) {
    return Deny("measurement",
                "no launch measurement is allowed (the allow-list is empty, which refuses every "
                "guest); add the guest image's measurement to the policy");
  }
  if (!Contains(ref.measurements, c.measurement)) {
    return Deny("measurement",
                "the launch measurement is not in the allow-list; add it if this guest image is "
                "expected");
  }
  struct Component {
    std::string_view name;
    unsigned have;
    unsigned want;
  };
  const SnpTcb& t = c.reported_tcb;
  const SnpTcb& m = ref.minimum_tcb;
  const Component components[] = {
      {"bootloader", t.bootloader, m.bootloader},
      {"tee", t.tee, m.tee},
      {"snp", t.snp, m.snp},
      {"microcode", t.microcode, m.microcode},
      {"fmc", c.product == SnpProduct::kTurin ? t.fmc : 0u,
       c.product == SnpProduct::kTurin ? m.fmc : 0u},
  };
  for (const Component& comp : components) {
    if (comp.have < comp.want) {
      return Deny(
          fmt::format("tcb.{}", comp.name),
          fmt::format("REPORTED_TCB {} is {}, below the minimum {}; update the host firmware",
                      comp.name, comp.have, comp.want));
    }
  }
  if (ref.chip_ids.has_value() && !Contains(*ref.chip_ids, c.chip_id)) {
    return Deny("chip_id", "the chip is not in the list of allowed CHIP_IDs");
  }
  if (ref.host_data.has_value() && !Contains(*ref.host_data, c.host_data)) {
    return Deny("host_data", "HOST_DATA is not one of the allowed values");
  }
  return absl::OkStatus();
}

}  // namespace cloak::attest::snp
